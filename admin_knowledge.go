package lore

import (
	"context"

	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

// KnowledgeView is a session's long-term knowledge in its detail view:
// counts always, the entries' text only when the messages are asked for
// (it is derived from them).
type KnowledgeView struct {
	Project            string           `json:"project"`
	TurnsSinceCuration int              `json:"turns_since_curation"`
	CuratedMessages    int              `json:"curated_messages"` // stored messages the curator has seen
	ProjectEntries     int              `json:"project_entries"`
	GlobalEntries      int              `json:"global_entries"`
	Entries            []KnowledgeEntry `json:"entries,omitempty"`
}

// KnowledgeEntry is one entry, with ?messages=1.
type KnowledgeEntry struct {
	ID         string  `json:"id"`
	Scope      string  `json:"scope"` // "project" or "global"
	Category   string  `json:"category"`
	Title      string  `json:"title"`
	Content    string  `json:"content"`
	Confidence float64 `json:"confidence"`
}

// knowledgeView reads the session's knowledge; nil when there is none to
// show (no namespace) or Redis cannot say.
func knowledgeView(ctx context.Context, st *store.Store, s *store.Session, withText bool) *KnowledgeView {
	if s.Namespace == "" {
		return nil
	}
	project := s.Project
	if project == "" {
		project = knowledge.DefaultProject
	}
	own, err := knowledge.Entries(ctx, st, s.Namespace, project)
	if err != nil {
		return nil
	}
	global, err := knowledge.Entries(ctx, st, s.Namespace, knowledge.GlobalProject)
	if err != nil {
		return nil
	}
	mark, _ := knowledge.CurationMark(ctx, st, s.ID)
	v := &KnowledgeView{Project: project, TurnsSinceCuration: s.TurnsSinceCuration, CuratedMessages: mark,
		ProjectEntries: len(own), GlobalEntries: len(global)}
	if withText {
		for _, e := range append(own, global...) {
			scope := "project"
			if e.Project == knowledge.GlobalProject {
				scope = "global"
			}
			v.Entries = append(v.Entries, KnowledgeEntry{ID: e.ID, Scope: scope, Category: e.Category,
				Title: e.Title, Content: e.Content, Confidence: e.Confidence})
		}
	}
	return v
}
