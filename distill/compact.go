package distill

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
)

// Compact answers a client's compaction request from the session's
// distillations (docs/architecture.md, Compaction requests): an urgent forced distillation of
// everything pending, then one urgent "compact" call whose user message is
// the rows as "## Lore Pre-computed Session Summaries" chunks followed by
// the summary template (and the client's previous summary, to update in
// place). It returns the summary text; on any error the handler forwards
// the request upstream instead: a failed summary must not fail the client's
// compaction.
//
// model is the model of the summary call; "" uses the worker model. The
// distillation step respects the in-flight guard: it goes ahead beside a
// batched run that is out, but if another urgent run is in progress the
// summary is written from the rows already stored.
func (d *Distiller) Compact(ctx context.Context, sessionID, previousSummary, model string) (string, error) {
	res, err := d.run(ctx, sessionID, runOpts{force: true, urgent: true})
	if err != nil {
		// The rows already stored still make a useful summary.
		d.log.Warn("distillation before compaction failed", zap.String("session", sessionID), zap.Error(err))
	} else if res.Busy {
		d.log.Debug("distillation before compaction skipped: another urgent run is in flight", zap.String("session", sessionID))
	}
	rows, err := d.Rows(ctx, sessionID)
	if err != nil {
		return "", fmt.Errorf("distill: compaction of session %s: %w", sessionID, err)
	}
	text, err := d.w.Prompt(ctx, llm.Call{
		Kind: KindCompact, SessionID: sessionID, Model: model, Urgent: true,
		System: CompactSystem, User: compactUser(rows, strings.TrimSpace(previousSummary)),
	})
	if err != nil {
		return "", fmt.Errorf("distill: compaction of session %s: %w", sessionID, err)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fmt.Errorf("%w: compaction summary", ErrEmpty)
	}
	return text, nil
}
