package lore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/handler"
	"github.com/caddy-lore/caddy-lore/pricing"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin is the `admin.api.lore` module: lore's operator view on Caddy's
// admin endpoint (localhost:2019 by default; it is loaded with the admin
// API, no configuration needed).
//
//	GET    /lore/                  status page (HTML)
//	GET    /lore/sessions          sessions, paged: ?cursor=&limit= (≤ 500)
//	GET    /lore/sessions/{id}     one session, its distillations and knowledge counts; ?messages=1 adds
//	                               its messages and its knowledge entries
//	DELETE /lore/sessions/{id}     deletes every key of the session
//	GET    /lore/batches           the batch queue (batching.Stats)
//	GET    /lore/usage             per-person usage: ?since=&until= (UTC days) &by=person|model|day
//
// The admin API is not part of the http app, so it reads the shared state
// from Redis through the store of the newest provisioned lore handler (see
// instances.go); with no lore handler running it answers 503. Output never
// holds a credential (only its fingerprint) nor message text unless a
// session's messages are asked for.
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.lore",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Routes returns the admin routes.
func (a *Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/lore/", Handler: caddy.AdminHandlerFunc(a.serveStatus)},
		{Pattern: "/lore/sessions", Handler: caddy.AdminHandlerFunc(a.serveSessions)},
		{Pattern: "/lore/sessions/", Handler: caddy.AdminHandlerFunc(a.serveSession)},
		{Pattern: "/lore/batches", Handler: caddy.AdminHandlerFunc(a.serveBatches)},
		{Pattern: "/lore/usage", Handler: caddy.AdminHandlerFunc(a.serveUsage)},
	}
}

// adminTimeout bounds the Redis work of one admin request.
const adminTimeout = 10 * time.Second

// SessionView is a session as the admin API shows it.
type SessionView struct {
	ID              string       `json:"id"`
	Credential      string       `json:"credential"` // fingerprint only
	Model           string       `json:"model"`
	Messages        int          `json:"messages"` // in the last request
	Stored          int          `json:"stored"`
	Turns           int          `json:"turns"`
	LastLayer       int          `json:"last_layer"`
	PostIdleCompact bool         `json:"post_idle_compact"`
	IdleWorkPending bool         `json:"idle_work_pending"`
	IdleSince       *time.Time   `json:"idle_since,omitempty"`
	CreatedAt       time.Time    `json:"created_at"`
	LastRequest     time.Time    `json:"last_request"`
	Tokens          usage.Tokens `json:"tokens"` // the session's totals
	// Cost is the session's estimated spend in dollars (answered turns plus
	// batched worker calls); Saved is what the same work would have cost
	// without the gateway minus Cost (see docs/cost.md).
	Cost  float64  `json:"cost"`
	Saved float64  `json:"saved"`
	Costs CostView `json:"costs"`
}

// CostView splits a session's cost in micro-dollars.
type CostView struct {
	TurnsMicroUSD          int64 `json:"turns_micro_usd"`
	TurnsWithoutMicroUSD   int64 `json:"turns_counterfactual_micro_usd"`
	BatchedMicroUSD        int64 `json:"batched_micro_usd"`
	BatchedWithoutMicroUSD int64 `json:"batched_counterfactual_micro_usd"`
}

// SessionDetail is GET /lore/sessions/{id}.
type SessionDetail struct {
	SessionView
	Distilled     *int           `json:"distilled,omitempty"` // stored messages the live rows cover
	Undistilled   *int           `json:"undistilled,omitempty"`
	Distillations []DistilView   `json:"distillations"`
	MessageList   []MsgView      `json:"message_list,omitempty"` // only with ?messages=1
	Knowledge     *KnowledgeView `json:"knowledge,omitempty"`
}

// DistilView is a distillation row without its text.
type DistilView struct {
	ID               string    `json:"id"`
	Generation       int       `json:"generation"`
	FirstPos         int       `json:"first_pos"`
	LastPos          int       `json:"last_pos"`
	ObservationChars int       `json:"observation_chars"`
	CreatedAt        time.Time `json:"created_at"`
}

// MsgView is a stored message (asked for explicitly).
type MsgView struct {
	Position int             `json:"pos"`
	Role     string          `json:"role"`
	Content  json.RawMessage `json:"content"`
}

// SessionsPage is GET /lore/sessions.
type SessionsPage struct {
	Sessions   []SessionView `json:"sessions"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func running() (*store.Store, *handler.Handler, error) {
	st, h := current()
	if st == nil || h == nil {
		return nil, nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("no lore handler is running")}
	}
	return st, h, nil
}

func apiErr(code int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: code, Err: fmt.Errorf(format, args...)}
}

func onlyMethod(r *http.Request, m string) error {
	if r.Method != m {
		return apiErr(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
	return nil
}

func (a *Admin) serveSessions(w http.ResponseWriter, r *http.Request) error {
	if err := onlyMethod(r, http.MethodGet); err != nil {
		return err
	}
	st, h, err := running()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var cursor uint64
	if c := q.Get("cursor"); c != "" {
		if cursor, err = strconv.ParseUint(c, 10, 64); err != nil {
			return apiErr(http.StatusBadRequest, "cursor: not a cursor")
		}
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > store.MaxListLimit {
			return apiErr(http.StatusBadRequest, "limit: 1..%d", store.MaxListLimit)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	page, err := listSessions(ctx, st, h, cursor, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, page)
}

func listSessions(ctx context.Context, st *store.Store, h *handler.Handler, cursor uint64, limit int) (*SessionsPage, error) {
	sessions, next, err := st.ListSessions(ctx, cursor, limit)
	if err != nil {
		return nil, apiErr(http.StatusBadGateway, "reading sessions: %v", err)
	}
	out := &SessionsPage{Sessions: make([]SessionView, 0, len(sessions))}
	if next != 0 {
		out.NextCursor = strconv.FormatUint(next, 10)
	}
	for _, s := range sessions {
		v, err := sessionView(ctx, st, h, s)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out.Sessions = append(out.Sessions, *v)
		}
	}
	return out, nil
}

func sessionView(ctx context.Context, st *store.Store, h *handler.Handler, s *store.Session) (*SessionView, error) {
	f, err := h.Flags(ctx, s.ID)
	if err != nil {
		return nil, apiErr(http.StatusBadGateway, "reading session flags: %v", err)
	}
	if f == nil {
		return nil, nil // deleted or expired meanwhile
	}
	v := &SessionView{
		ID: s.ID, Credential: s.Fingerprint, Model: s.Model, Messages: s.MessageCount, Stored: s.Stored,
		Turns: s.Turns, LastLayer: f.LastLayer, PostIdleCompact: f.PostIdleCompact,
		IdleWorkPending: f.IdleWorkPending, CreatedAt: s.CreatedAt, LastRequest: s.LastRequest,
		Tokens: usage.TokensOf(s.Usage),
	}
	if f.IdleWorkPending && !f.IdleSince.IsZero() {
		v.IdleSince = &f.IdleSince
	}
	batched, err := batching.NewRedisQueue(st).SessionUsage(ctx, s.ID)
	if err != nil {
		return nil, apiErr(http.StatusBadGateway, "reading batch usage: %v", err)
	}
	v.Costs = CostView{TurnsMicroUSD: s.CostMicroUSD, TurnsWithoutMicroUSD: s.CounterfactualMicroUSD}
	v.Costs.BatchedMicroUSD, v.Costs.BatchedWithoutMicroUSD = batching.SessionCost(batched)
	cost := v.Costs.TurnsMicroUSD + v.Costs.BatchedMicroUSD
	v.Cost = pricing.Dollars(cost)
	v.Saved = pricing.Dollars(v.Costs.TurnsWithoutMicroUSD + v.Costs.BatchedWithoutMicroUSD - cost)
	return v, nil
}

func (a *Admin) serveSession(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/lore/sessions/")
	if id == "" || strings.Contains(id, "/") {
		return apiErr(http.StatusNotFound, "no such session")
	}
	st, h, err := running()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodDelete:
		ok, err := st.DeleteSession(ctx, id)
		switch {
		case errors.Is(err, store.ErrInvalidID) || err == nil && !ok:
			return apiErr(http.StatusNotFound, "no such session")
		case err != nil:
			return apiErr(http.StatusBadGateway, "deleting the session: %v", err)
		}
		// Its queued background work goes too: each item carries a snapshot
		// of the session's credential.
		if _, err := batching.DropSession(ctx, st, id); err != nil {
			return apiErr(http.StatusBadGateway, "deleting the session's queued batch items: %v", err)
		}
		return writeJSON(w, map[string]string{"deleted": id})
	case http.MethodGet:
		v, err := sessionDetail(ctx, st, h, id, r.URL.Query().Get("messages") == "1")
		if err != nil {
			return err
		}
		return writeJSON(w, v)
	}
	return apiErr(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
}

func sessionDetail(ctx context.Context, st *store.Store, h *handler.Handler, id string, withMessages bool) (*SessionDetail, error) {
	s, err := st.LoadSession(ctx, id)
	if errors.Is(err, store.ErrInvalidID) || err == nil && s == nil {
		return nil, apiErr(http.StatusNotFound, "no such session")
	}
	if err != nil {
		return nil, apiErr(http.StatusBadGateway, "reading the session: %v", err)
	}
	sv, err := sessionView(ctx, st, h, s)
	if err != nil || sv == nil {
		return nil, cmpErr(err, apiErr(http.StatusNotFound, "no such session"))
	}
	v := &SessionDetail{SessionView: *sv}
	rows, err := distill.LiveRows(ctx, st, id)
	if err != nil {
		return nil, apiErr(http.StatusBadGateway, "reading distillations: %v", err)
	}
	v.Distillations = make([]DistilView, 0, len(rows))
	for _, row := range rows {
		v.Distillations = append(v.Distillations, DistilView{
			ID: row.ID, Generation: row.Generation, FirstPos: row.FirstPos, LastPos: row.LastPos,
			ObservationChars: len(row.Observations), CreatedAt: time.UnixMilli(row.CreatedAt).UTC(),
		})
	}
	if upTo, err := distill.DistilledUpTo(ctx, st, id); err == nil {
		v.Distilled = &upTo
	}
	if n, err := distill.UndistilledCount(ctx, st, id); err == nil {
		v.Undistilled = &n
	}
	v.Knowledge = knowledgeView(ctx, st, s, withMessages)
	if withMessages {
		msgs, err := st.Messages(ctx, id, 0, -1)
		if err != nil {
			return nil, apiErr(http.StatusBadGateway, "reading messages: %v", err)
		}
		for _, m := range msgs {
			v.MessageList = append(v.MessageList, MsgView{Position: m.Position, Role: m.Role, Content: m.Content})
		}
	}
	return v, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func (a *Admin) serveBatches(w http.ResponseWriter, r *http.Request) error {
	if err := onlyMethod(r, http.MethodGet); err != nil {
		return err
	}
	st, _, err := running()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	stats, err := batching.ReadStats(ctx, st, time.Now())
	if err != nil {
		return apiErr(http.StatusBadGateway, "reading the batch queue: %v", err)
	}
	return writeJSON(w, batchesView{Stats: stats, OldestAgeSeconds: stats.OldestAge.Seconds()})
}

// batchesView is GET /lore/batches: batching.Stats plus the age in seconds.
type batchesView struct {
	batching.Stats
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*Admin)(nil)
