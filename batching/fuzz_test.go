package batching

import (
	"bytes"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
)

// openAICredA is keyA as an OpenAI-compatible upstream's credential.
var openAICredA = auth.Credential{Scheme: auth.SchemeBearer, Value: keyA, Provider: auth.ProviderOpenAI}

// FuzzResultLines: a batch's JSONL results, as the upstream sends them (the
// seeds are rows in the real APIs' shapes: Anthropic's succeeded, errored
// with a full envelope, canceled, expired; OpenAI's output and error file
// lines), read line by line as either provider's. No input panics, and an
// errored row's message that quotes the credential never carries it on.
func FuzzResultLines(f *testing.F) {
	f.Add([]byte(`{"custom_id":"distill-abc-1","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"<observations>x</observations>"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}}
{"custom_id":"distill-abc-2","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"},"request_id":null}}}
{"custom_id":"distill-abc-3","result":{"type":"canceled"}}
{"custom_id":"distill-abc-4","result":{"type":"expired"}}
`))
	f.Add([]byte(`{"custom_id":"x","result":{"type":"errored","error":{"type":"authentication_error","message":"key ` + keyA + `"}}}`))
	f.Add([]byte(`{"id":"batch_req_1","custom_id":"distill-abc-1","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-5-mini","choices":[{"index":0,"message":{"role":"assistant","content":"<observations>x</observations>"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}},"error":null}
{"id":"batch_req_2","custom_id":"distill-abc-2","response":{"status_code":400,"request_id":"req_2","body":{"error":{"message":"bad key ` + keyA + `","type":"invalid_request_error"}}},"error":null}
{"id":"batch_req_3","custom_id":"distill-abc-3","response":null,"error":{"code":"batch_expired","message":"expired"}}
`))
	f.Add([]byte("not json\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			for _, cred := range []auth.Credential{credA, openAICredA} {
				row, ok := parseRow(cred, line)
				if !ok {
					continue
				}
				_, _ = rowText(row)
				if row.Result.Type == "errored" || len(row.Result.Error) > 0 {
					if msg := rowError(row.Result.Error, cred).Error(); strings.Contains(msg, keyA) {
						t.Fatalf("errored row message keeps the credential: %q", msg)
					}
				}
			}
		}
	})
}
