package knowledge

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// Entry limits (docs/knowledge-and-recall.md, Long-term knowledge).
const (
	MaxContentChars = 1200
	truncatedSuffix = " [truncated — entry too long]"
	maxTitleChars   = 200
)

// Categories the curator may use; anything else is stored as "pattern".
// Read-only.
var categories = []string{"decision", "pattern", "preference", "architecture", "gotcha"}

// Op is one curator or consolidation operation.
type Op struct {
	Op           string   `json:"op"` // create | update | delete
	ID           string   `json:"id,omitempty"`
	Category     string   `json:"category,omitempty"`
	Title        string   `json:"title,omitempty"`
	Content      string   `json:"content,omitempty"`
	Scope        string   `json:"scope,omitempty"` // project | global
	CrossProject *bool    `json:"crossProject,omitempty"`
	Confidence   *float64 `json:"confidence,omitempty"`
	Reason       string   `json:"reason,omitempty"`
}

// ParseOps reads the worker's answer: a JSON array of ops, optionally in a
// ```json fence. Anything else gives no ops; elements that are not objects
// with a string "op" are skipped.
func ParseOps(text string) []Op {
	s := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:] // drops the fence's language tag
		}
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	var raw []json.RawMessage
	if json.Unmarshal([]byte(s), &raw) != nil {
		return nil
	}
	ops := make([]Op, 0, len(raw))
	for _, r := range raw {
		var probe map[string]json.RawMessage
		if json.Unmarshal(r, &probe) != nil {
			continue
		}
		var kind string
		if json.Unmarshal(probe["op"], &kind) != nil {
			continue
		}
		var op Op
		if json.Unmarshal(r, &op) != nil {
			continue
		}
		op.Op = kind
		ops = append(ops, op)
	}
	return ops
}

// Truncate cuts content longer than MaxContentChars characters and says so.
func Truncate(content string) string {
	content = strings.TrimSpace(content)
	if utf8.RuneCountInString(content) <= MaxContentChars {
		return content
	}
	r := []rune(content)
	return string(r[:MaxContentChars]) + truncatedSuffix
}

// applied is the result of applying ops: per project, the change to write.
type applied struct {
	changes map[string]*Change
	created int
	updated int
	deleted int
}

// applyOps applies ops to the entries of a project and the namespace's
// global (cross-project) entries (docs/knowledge-and-recall.md): creates are truncated and
// deduplicated by title, case-insensitively, against the same scope and the
// global entries (a match is updated instead); updates and deletes need an
// existing id. allowCreate is false for consolidation, which only merges.
// newID and now give new entries their id and times. entries is not
// modified.
func applyOps(ops []Op, project string, entries []Entry, allowCreate bool, newID func() string, now int64) *applied {
	live := make([]*Entry, 0, len(entries)+len(ops))
	existed := make(map[string]string, len(entries)) // id → project, as stored
	for i := range entries {
		e := entries[i]
		live = append(live, &e)
		existed[e.ID] = e.Project
	}
	byID := func(id string) *Entry {
		for _, e := range live {
			if e.ID == id {
				return e
			}
		}
		return nil
	}
	touched := map[string]bool{}
	a := &applied{changes: map[string]*Change{}}
	for _, op := range ops {
		switch op.Op {
		case "create":
			title, content := clipTitle(op.Title), Truncate(op.Content)
			if !allowCreate || title == "" || content == "" {
				continue
			}
			scope := project
			if op.Scope == "global" {
				scope = GlobalProject
			}
			if e := findTitle(live, title, scope); e != nil {
				e.Content, e.UpdatedAt = content, now
				touched[e.ID] = true
				a.updated++
				continue
			}
			e := &Entry{ID: newID(), Project: scope, Category: category(op.Category), Title: title,
				Content: content, Confidence: 1, CreatedAt: now, UpdatedAt: now}
			live = append(live, e)
			touched[e.ID] = true
			a.created++
		case "update":
			e := byID(op.ID)
			if e == nil {
				continue
			}
			if c := Truncate(op.Content); c != "" {
				e.Content = c
			}
			if op.Confidence != nil {
				e.Confidence = min(max(*op.Confidence, 0), 1)
			}
			e.UpdatedAt = now
			touched[e.ID] = true
			a.updated++
		case "delete":
			if byID(op.ID) == nil {
				continue
			}
			live = slices.DeleteFunc(live, func(e *Entry) bool { return e.ID == op.ID })
			delete(touched, op.ID)
			if p, ok := existed[op.ID]; ok {
				ch := a.change(p)
				ch.Delete = append(ch.Delete, op.ID)
			}
			a.deleted++
		}
	}
	for _, e := range live { // in order, so the writes are deterministic
		if touched[e.ID] {
			ch := a.change(e.Project)
			ch.Put = append(ch.Put, *e)
		}
	}
	return a
}

func (a *applied) change(project string) *Change {
	if a.changes[project] == nil {
		a.changes[project] = &Change{}
	}
	return a.changes[project]
}

// findTitle finds a live entry titled title (case-insensitively) in scope,
// or among the global entries.
func findTitle(entries []*Entry, title, scope string) *Entry {
	for _, e := range entries {
		if e.Confidence > 0 && strings.EqualFold(e.Title, title) && (e.Project == scope || e.Project == GlobalProject) {
			return e
		}
	}
	return nil
}

func clipTitle(t string) string {
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > maxTitleChars {
		t = string([]rune(t)[:maxTitleChars])
	}
	return t
}

func category(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	for _, k := range categories {
		if c == k {
			return c
		}
	}
	return "pattern"
}
