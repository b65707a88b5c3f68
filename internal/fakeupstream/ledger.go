package fakeupstream

// Bill is what the fake charged for one Messages call: a /v1/messages
// request (answered or refused) or one batch row. Tests price it to compare
// the cost of the same work with and without a gateway.
type Bill struct {
	Batch  bool   `json:"batch"`  // a Message Batches row (billed at half price)
	Status int    `json:"status"` // 200, or the error status it was refused with
	Error  string `json:"error,omitempty"`
	Model  string `json:"model"`
	// System is the first 200 bytes of the system prompt and Tools the
	// number of tool definitions: enough to tell a client's turn from a
	// gateway's worker call.
	System     string `json:"system"`
	Tools      int    `json:"tools"`
	Messages   int    `json:"messages"`
	Input      int    `json:"input_tokens"`
	CacheRead  int    `json:"cache_read_input_tokens"`
	Creation5m int    `json:"cache_creation_5m"`
	Creation1h int    `json:"cache_creation_1h"`
	Output     int    `json:"output_tokens"`
}

// Bills returns a copy of the ledger, oldest first.
func (s *Server) Bills() []Bill {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Bill(nil), s.bills...)
}

// bill records one call; p may be nil when the body did not parse.
func (s *Server) bill(p *msgRequest, batch bool, rep reply, u cacheUsage, e *apiError) {
	b := Bill{Batch: batch, Status: 200, Input: u.Input, CacheRead: u.Read, Creation5m: u.Creation5m, Creation1h: u.Creation1h}
	if e != nil {
		b.Status, b.Error = e.Status, e.Message
	} else {
		b.Output = rep.outputTokens()
	}
	if p != nil {
		b.Model, b.Messages = p.Model, len(p.Messages)
		b.System = p.System
		if len(b.System) > 200 {
			b.System = b.System[:200]
		}
		tools, _ := p.root["tools"].([]any)
		b.Tools = len(tools)
	}
	s.mu.Lock()
	if len(s.bills) < maxRecorded {
		s.bills = append(s.bills, b)
	}
	s.mu.Unlock()
}
