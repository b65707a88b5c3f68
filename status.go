package lore

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/store"
	"github.com/caddy-lore/caddy-lore/usage"
)

// statusSessions is how many sessions the status page lists.
const statusSessions = 200

// statusData is what the status page renders.
type statusData struct {
	Now      time.Time
	Sessions []SessionView
	More     bool
	Layers   [5]int // sessions by last layer
	Tokens   usage.Tokens
	Batches  batching.Stats
	BatchErr string
	Chart    []bar
	Cost     float64 // dollars, listed sessions
	Saved    float64
	Savings  savingsChart
	// Distilled is, per listed session id, how many of its stored messages
	// its distillations cover.
	Distilled map[string]int
	// People is the last 30 days' usage by person (GET /lore/usage) and
	// DayCost its per-day cost chart; UsageErr says why they are missing.
	People   usage.Report
	DayCost  []dayBar
	UsageErr string
}

// dayBar is one day of the per-day cost chart.
type dayBar struct {
	Day        string
	Cost       float64
	X, Y, W, H int
}

const (
	dayChartW = 600
	dayChartH = 100
)

// dayCost draws one bar per day, scaled to the costliest day.
func dayCost(rows []usage.Row) []dayBar {
	peak := 0.0
	for _, r := range rows {
		peak = max(peak, r.Cost)
	}
	out := make([]dayBar, len(rows))
	w := max(dayChartW/max(len(rows), 1), 2)
	for i, r := range rows {
		h := 0
		if peak > 0 {
			h = int(r.Cost / peak * dayChartH)
		}
		out[i] = dayBar{Day: r.Key, Cost: r.Cost, X: 10 + i*w, W: max(w-2, 1), H: h, Y: 10 + dayChartH - h}
	}
	return out
}

// statusUsage fills the page's usage sections from one read of the counters.
func (d *statusData) statusUsage(ctx context.Context, st *store.Store) {
	since, until, _ := usageRange("", "", d.Now)
	entries, err := usage.Read(ctx, st, since, until)
	if err != nil {
		d.UsageErr = "usage counters unreadable"
		return
	}
	var days []string
	for t := since; !t.After(until); t = t.AddDate(0, 0, 1) {
		days = append(days, t.Format(usage.DayFormat))
	}
	d.People, _ = usage.Build(entries, usage.ByPerson, days)
	byDay, _ := usage.Build(entries, usage.ByDay, days)
	d.DayCost = dayCost(byDay.Rows)
}

// savingsChart is the inline SVG line of cumulative saved dollars across the
// listed sessions, ordered by last request.
type savingsChart struct {
	Points         string // SVG polyline points
	Total          float64
	From, To       string
	N              int
	ZeroY, LabelTo int
}

// bar is one bar of the inline SVG chart (sessions by last layer).
type bar struct {
	Label         string
	Count         int
	X, Y, W, H, T int // T: y of the count label
}

const chartH = 100

func (a *Admin) serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/lore/" {
		return apiErr(http.StatusNotFound, "not found")
	}
	if err := onlyMethod(r, http.MethodGet); err != nil {
		return err
	}
	st, h, err := running()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	page, err := listSessions(ctx, st, h, 0, statusSessions)
	if err != nil {
		return err
	}
	d := statusData{Now: time.Now().UTC(), Sessions: page.Sessions, More: page.NextCursor != "", Distilled: map[string]int{}}
	for _, s := range page.Sessions {
		if n, err := distill.DistilledUpTo(ctx, st, s.ID); err == nil {
			d.Distilled[s.ID] = n
		}
		if s.LastLayer >= 0 && s.LastLayer < len(d.Layers) {
			d.Layers[s.LastLayer]++
		}
		d.Tokens.Input += s.Tokens.Input
		d.Tokens.Output += s.Tokens.Output
		d.Tokens.CacheRead += s.Tokens.CacheRead
		d.Tokens.CacheWrite += s.Tokens.CacheWrite
		d.Cost += s.Cost
		d.Saved += s.Saved
	}
	d.Savings = savings(page.Sessions)
	if d.Batches, err = batching.ReadStats(ctx, st, time.Now()); err != nil {
		d.BatchErr = "batch queue unreadable"
	}
	d.Chart = chart(d.Layers[:])
	d.statusUsage(ctx, st)
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, d); err != nil {
		return apiErr(http.StatusInternalServerError, "rendering the status page: %v", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, err = w.Write(buf.Bytes())
	return err
}

func chart(counts []int) []bar {
	peak := 1
	for _, c := range counts {
		peak = max(peak, c)
	}
	out := make([]bar, len(counts))
	for i, c := range counts {
		hgt := c * chartH / peak
		out[i] = bar{Label: "L" + string(rune('0'+i)), Count: c, X: 10 + i*50, W: 36, H: hgt, Y: 20 + chartH - hgt, T: 16 + chartH - hgt}
	}
	return out
}

const (
	savingsW = 400
	savingsH = 100
)

// savings plots cumulative saved dollars by last request time: one point per
// session (x spread evenly by rank, which keeps bursts readable), y scaled
// between the lowest and highest cumulative value (and 0).
func savings(sessions []SessionView) savingsChart {
	ss := slices.Clone(sessions)
	slices.SortStableFunc(ss, func(a, b SessionView) int { return a.LastRequest.Compare(b.LastRequest) })
	c := savingsChart{N: len(ss)}
	if len(ss) == 0 {
		return c
	}
	cum := make([]float64, len(ss))
	lo, hi := 0.0, 0.0
	for i, s := range ss {
		c.Total += s.Saved
		cum[i] = c.Total
		lo, hi = min(lo, c.Total), max(hi, c.Total)
	}
	if hi == lo {
		hi = lo + 1
	}
	y := func(v float64) int { return 10 + int((hi-v)/(hi-lo)*savingsH) }
	var b strings.Builder
	b.WriteString("10," + strconv.Itoa(y(0)))
	for i, v := range cum {
		x := 10 + (i+1)*savingsW/len(cum)
		fmt.Fprintf(&b, " %d,%d", x, y(v))
	}
	c.Points, c.ZeroY, c.LabelTo = b.String(), y(0), savingsH+26
	c.From = ss[0].LastRequest.Format("01-02 15:04")
	c.To = ss[len(ss)-1].LastRequest.Format("01-02 15:04")
	return c
}

var statusTemplate = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>caddy-lore status</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l{text-align:left;font-family:monospace}
section{margin-bottom:1.5em}
</style></head><body>
<h1>caddy-lore</h1><p>As of {{.Now.Format "2006-01-02 15:04:05"}} UTC.</p>
<section id="layers"><h2>Sessions by last layer</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="270" height="145" role="img" aria-label="sessions by last layer">
{{range .Chart}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#4a7bd0"><title>{{.Label}}: {{.Count}}</title></rect>
<text x="{{.X}}" y="{{.T}}" font-size="11">{{.Count}}</text><text x="{{.X}}" y="136" font-size="11">{{.Label}}</text>
{{end}}</svg></section>
<section id="savings"><h2>Savings over time</h2>
<p>Cost {{printf "$%.4f" .Cost}}, saved {{printf "$%.4f" .Saved}} (listed sessions, estimated at list prices).</p>
{{if .Savings.N}}<svg xmlns="http://www.w3.org/2000/svg" width="430" height="135" role="img" aria-label="cumulative saved dollars">
<line x1="10" y1="{{.Savings.ZeroY}}" x2="410" y2="{{.Savings.ZeroY}}" stroke="#bbb"/>
<polyline class="savings" points="{{.Savings.Points}}" fill="none" stroke="#2a9d4a" stroke-width="2"><title>cumulative saved: {{printf "$%.4f" .Savings.Total}}</title></polyline>
<text x="10" y="{{.Savings.LabelTo}}" font-size="11">{{.Savings.From}}</text><text x="410" y="{{.Savings.LabelTo}}" font-size="11" text-anchor="end">{{.Savings.To}} · {{printf "$%.4f" .Savings.Total}}</text>
</svg>{{end}}</section>
<section id="usage"><h2>Usage by person (last 30 days)</h2>{{if .UsageErr}}<p>{{.UsageErr}}</p>{{else}}
<svg xmlns="http://www.w3.org/2000/svg" width="620" height="135" role="img" aria-label="cost per day">
<line x1="10" y1="110" x2="610" y2="110" stroke="#bbb"/>
{{range .DayCost}}<rect class="day" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#d0884a"><title>{{.Day}}: {{printf "$%.4f" .Cost}}</title></rect>
{{end}}{{with .People}}<text x="10" y="126" font-size="11">{{.Since}}</text><text x="610" y="126" font-size="11" text-anchor="end">{{.Until}} · {{printf "$%.4f" .Total.Cost}}</text>{{end}}
</svg>
<table><tr><th>person</th><th>turns</th><th>input</th><th>output</th><th>cache read</th><th>cache write</th><th>worker calls</th><th>of which batched</th><th>worker $</th><th>cost $</th><th>without gateway $</th><th>saved $</th></tr>
{{range .People.Rows}}<tr class="person"><td class="l">{{.Key}}</td><td>{{.Turns}}</td><td>{{.Tokens.Input}}</td><td>{{.Tokens.Output}}</td><td>{{.Tokens.CacheRead}}</td><td>{{.Tokens.CacheWrite}}</td><td>{{.Worker.Calls}}</td><td>{{.Worker.BatchCalls}}</td><td>{{printf "%.4f" .Worker.Cost}}</td><td>{{printf "%.4f" .Cost}}</td><td>{{printf "%.4f" .Counterfactual}}</td><td>{{printf "%.4f" .Saved}}</td></tr>
{{end}}</table>{{end}}</section>
<section id="tokens"><h2>Tokens (listed sessions)</h2>
<table><tr><th>input</th><th>output</th><th>cache read</th><th>cache write</th></tr>
<tr><td>{{.Tokens.Input}}</td><td>{{.Tokens.Output}}</td><td>{{.Tokens.CacheRead}}</td><td>{{.Tokens.CacheWrite}}</td></tr></table></section>
<section id="batches"><h2>Batch queue</h2>{{if .BatchErr}}<p>{{.BatchErr}}</p>{{else}}
<table><tr><th>queued</th><th>oldest</th><th>in-flight batches</th><th>in-flight items</th><th>sync pending</th><th>batches</th><th>resolved</th><th>fallback</th><th>failed</th></tr>
<tr><td>{{.Batches.Queued}}</td><td>{{.Batches.OldestAge}}</td><td>{{.Batches.InFlightBatches}}</td><td>{{.Batches.InFlightItems}}</td><td>{{.Batches.SyncPending}}</td><td>{{.Batches.Batches}}</td><td>{{.Batches.Resolved}}</td><td>{{.Batches.Fallback}}</td><td>{{.Batches.Failed}}</td></tr></table>{{end}}</section>
<section id="sessions"><h2>Sessions ({{len .Sessions}}{{if .More}}, more not shown{{end}})</h2>
<table><tr><th>id</th><th>credential</th><th>model</th><th>messages</th><th>distilled</th><th>turns</th><th>layer</th><th>post-idle compact</th><th>idle since</th><th>last request</th><th>input</th><th>output</th><th>cache read</th><th>cost $</th><th>saved $</th></tr>
{{range .Sessions}}<tr class="session"><td class="l">{{.ID}}</td><td class="l">{{.Credential}}</td><td class="l">{{.Model}}</td><td>{{.Messages}}</td><td class="distilled">{{index $.Distilled .ID}}</td><td>{{.Turns}}</td><td>{{.LastLayer}}</td><td>{{.PostIdleCompact}}</td><td>{{if .IdleSince}}{{.IdleSince.Format "15:04:05"}}{{end}}</td><td>{{.LastRequest.Format "2006-01-02 15:04:05"}}</td><td>{{.Tokens.Input}}</td><td>{{.Tokens.Output}}</td><td>{{.Tokens.CacheRead}}</td><td>{{printf "%.4f" .Cost}}</td><td>{{printf "%.4f" .Saved}}</td></tr>
{{end}}</table></section>
</body></html>
`))
