package llm_test

import (
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
)

// The upstream writes every field of an error envelope, and one that echoes
// the request can put the key in any of them: the type and the request id
// are redacted and bounded like the message.
func TestErrorDetailRedactsEveryField(t *testing.T) {
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: "sk-ant-api03-echoed-7777"}
	body := `{"type":"error","error":{"type":"` + cred.Value + `","message":"bad ` + cred.Value + `"},"request_id":"req_` + cred.Value + `"}`
	typ, msg, rid := llm.ErrorDetail([]byte(body), cred)
	for name, got := range map[string]string{"type": typ, "message": msg, "request_id": rid} {
		if strings.Contains(got, cred.Value) || !strings.Contains(got, "[redacted]") {
			t.Errorf("%s = %q, want the key redacted", name, got)
		}
	}

	long := strings.Repeat("é", 300) // 600 bytes: cut on a rune boundary
	typ, msg, rid = llm.ErrorDetail([]byte(`{"error":{"type":"`+long+`","message":"`+long+long+`"},"request_id":"`+long+`"}`), cred)
	if len(typ) > 100+len("…") || len(rid) > 100+len("…") || len(msg) > 500+len("…") {
		t.Errorf("not bounded: type %d, message %d, request_id %d bytes", len(typ), len(msg), len(rid))
	}
	for _, s := range []string{typ, msg, rid} {
		if !strings.HasSuffix(s, "…") || strings.ContainsRune(s, '\uFFFD') {
			t.Errorf("cut badly: %q", s)
		}
	}

	if typ, msg, rid := llm.ErrorDetail([]byte("<html>"+cred.Value+"</html>"), cred); typ+msg+rid != "" {
		t.Errorf("a body that is not an error envelope gave %q %q %q", typ, msg, rid)
	}
}
