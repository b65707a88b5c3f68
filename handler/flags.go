package handler

import (
	"context"
	"encoding/json"
	"time"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/idle"
)

// SessionFlags is a session's context state as an operator sees it (the
// admin view reads it through Flags).
type SessionFlags struct {
	SessionID   string    `json:"session_id"`
	Model       string    `json:"model"`
	LastRequest time.Time `json:"last_request"`
	Turns       int       `json:"turns"`
	LastLayer   int       `json:"last_layer"`
	// PostIdleCompact: the session's prompt cache is cold (its last turn is
	// older than idle_resume), so its next turn gets the compact window.
	PostIdleCompact bool `json:"post_idle_compact"`
	// IdleWorkPending: the session's idle work for this idle period has not
	// run yet; IdleSince is the time that idle period counts from.
	IdleWorkPending bool      `json:"idle_work_pending"`
	IdleSince       time.Time `json:"idle_since"`
	Calibrated      bool      `json:"calibrated"`
	Overhead        int       `json:"overhead_tokens"`
}

// Flags returns a session's flags, or nil when it does not exist.
func (h *Handler) Flags(ctx context.Context, sessionID string) (*SessionFlags, error) {
	st := h.cfg.Store
	sess, err := st.LoadSession(ctx, sessionID)
	if err != nil || sess == nil {
		return nil, err
	}
	var gs gradient.State
	if len(sess.Gradient) > 0 {
		_ = json.Unmarshal(sess.Gradient, &gs)
	}
	since, armed, err := idle.NewActiveSet(st).IdleArmed(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	resumed := h.loadState(sess, h.now()) // applies idle resume, as the next turn would
	return &SessionFlags{
		SessionID:       sess.ID,
		Model:           sess.Model,
		LastRequest:     sess.LastRequest,
		Turns:           sess.Turns,
		LastLayer:       gs.LastLayer,
		PostIdleCompact: resumed.PostIdleCompact,
		IdleWorkPending: armed,
		IdleSince:       since,
		Calibrated:      gs.LastKnownInput > 0,
		Overhead:        gs.Overhead,
	}, nil
}
