package lore

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

// defaultUsageDays is the range of GET /lore/usage without since.
const defaultUsageDays = 30

// serveUsage is GET /lore/usage?since=YYYY-MM-DD&until=YYYY-MM-DD&by=person|model|day:
// the per-day usage counters of the UTC days from since to until (both
// included; default the last 30 days up to today), grouped.
func (a *Admin) serveUsage(w http.ResponseWriter, r *http.Request) error {
	if err := onlyMethod(r, http.MethodGet); err != nil {
		return err
	}
	st, _, err := running()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	since, until, err := usageRange(q.Get("since"), q.Get("until"), time.Now())
	if err != nil {
		return err
	}
	by := q.Get("by")
	if by == "" {
		by = usage.ByPerson
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	rep, err := usageReport(ctx, st, since, until, by)
	if err != nil {
		return err
	}
	return writeJSON(w, rep)
}

// usageReport reads and groups the counters of [since, until].
func usageReport(ctx context.Context, st *store.Store, since, until time.Time, by string) (usage.Report, error) {
	entries, err := usage.Read(ctx, st, since, until)
	if errors.Is(err, usage.ErrRange) {
		return usage.Report{}, apiErr(http.StatusBadRequest, "since..until: 1 to %d days", usage.MaxDays)
	}
	if err != nil {
		return usage.Report{}, apiErr(http.StatusBadGateway, "reading usage: %v", err)
	}
	var days []string
	for d := since; !d.After(until); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(usage.DayFormat))
	}
	rep, err := usage.Build(entries, by, days)
	if err != nil {
		return usage.Report{}, apiErr(http.StatusBadRequest, "%v", err)
	}
	return rep, nil
}

// usageRange parses since and until as UTC days; until defaults to today,
// since to defaultUsageDays days up to until.
func usageRange(sinceQ, untilQ string, now time.Time) (since, until time.Time, err error) {
	now = now.UTC()
	until = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if untilQ != "" {
		if until, err = time.Parse(usage.DayFormat, untilQ); err != nil {
			return since, until, apiErr(http.StatusBadRequest, "until: a date, YYYY-MM-DD")
		}
	}
	since = until.AddDate(0, 0, 1-defaultUsageDays)
	if sinceQ != "" {
		if since, err = time.Parse(usage.DayFormat, sinceQ); err != nil {
			return since, until, apiErr(http.StatusBadRequest, "since: a date, YYYY-MM-DD")
		}
	}
	if since.After(until) {
		return since, until, apiErr(http.StatusBadRequest, "since is after until")
	}
	if until.Sub(since) >= usage.MaxDays*24*time.Hour {
		return since, until, apiErr(http.StatusBadRequest, "since..until: 1 to %d days", usage.MaxDays)
	}
	return since, until, nil
}
