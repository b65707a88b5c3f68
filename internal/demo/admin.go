package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// sessionView is the part of the admin API's session that the demo reads.
type sessionView struct {
	ID            string          `json:"id"`
	Turns         int             `json:"turns"`
	LastLayer     int             `json:"last_layer"`
	Cost          float64         `json:"cost"`
	Saved         float64         `json:"saved"`
	Distilled     *int            `json:"distilled"`
	Distillations json.RawMessage `json:"distillations"`
}

type batchStats struct {
	Queued          int64 `json:"queued"`
	Submitting      int64 `json:"submitting"`
	InFlightBatches int64 `json:"in_flight_batches"`
	InFlightItems   int64 `json:"in_flight_items"`
	SyncPending     int64 `json:"sync_pending"`
	Resolved        int64 `json:"resolved"`
}

func (o *Options) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Admin+path, nil)
	if err != nil {
		return err
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// session finds the demo's session: the only one with turns, or the one with
// the most turns.
func (o *Options) session(ctx context.Context) (*sessionView, error) {
	var page struct {
		Sessions []sessionView `json:"sessions"`
	}
	if err := o.getJSON(ctx, "/lore/sessions?limit=500", &page); err != nil {
		return nil, err
	}
	var best *sessionView
	for i := range page.Sessions {
		if best == nil || page.Sessions[i].Turns > best.Turns {
			best = &page.Sessions[i]
		}
	}
	return best, nil
}

// lastLayer reads the layer of the newest turn, the turn-th of the session.
// A turn's state is written just after its answer, so it polls briefly for
// the session's turn count to reach it.
func (o *Options) lastLayer(ctx context.Context, turn int) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := o.session(ctx)
		if err != nil {
			return 0, err
		}
		if s != nil && s.Turns >= turn {
			return s.LastLayer, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the admin API does not show turn %d (is %s the admin endpoint of the gateway?)", turn, o.Admin)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle waits until the batch queue is empty and nothing is in flight, then
// fills the summary from the admin API.
func (o *Options) settle(ctx context.Context, sum *Summary) error {
	deadline := time.Now().Add(o.Settle)
	var st batchStats
	for {
		if err := o.getJSON(ctx, "/lore/batches", &st); err != nil {
			return err
		}
		if st.Queued == 0 && st.Submitting == 0 && st.InFlightBatches == 0 && st.InFlightItems == 0 && st.SyncPending == 0 && st.Resolved > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the batch queue did not drain in %v: %+v", o.Settle, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	sum.BatchesResolved = st.Resolved
	s, err := o.session(ctx)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("no session in the admin API")
	}
	var detail sessionView
	if err := o.getJSON(ctx, "/lore/sessions/"+s.ID, &detail); err != nil {
		return err
	}
	var rows []json.RawMessage
	_ = json.Unmarshal(detail.Distillations, &rows)
	sum.SessionID, sum.Cost, sum.Saved, sum.Distillations = detail.ID, detail.Cost, detail.Saved, len(rows)
	if detail.Distilled != nil {
		sum.Distilled = *detail.Distilled
	}
	return nil
}

var workerLine = regexp.MustCompile(`^lore_worker_calls_total\{kind="([a-z_]+)",route="([a-z]+)"\} ([0-9.e+]+)$`)

// workerCalls reads the gateway's own LLM calls by "kind/route" from
// Caddy's /metrics (empty with disable_metrics). The counters are
// process-wide, so they include earlier sessions of the same Caddy.
func (o *Options) workerCalls(ctx context.Context) map[string]int {
	out := map[string]int{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Admin+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return out
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := workerLine.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseFloat(m[3], 64)
			out[m[1]+"/"+m[2]] = int(n)
		}
	}
	return out
}
