package batching

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzResultLines: a batch's JSONL results, as the upstream sends them (the
// seeds are rows in the real API's shapes: succeeded, errored with a full
// envelope, canceled, expired), read line by line. No input panics, and an
// errored row's message that quotes the credential never carries it on.
func FuzzResultLines(f *testing.F) {
	f.Add([]byte(`{"custom_id":"distill-abc-1","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"<observations>x</observations>"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}}
{"custom_id":"distill-abc-2","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"},"request_id":null}}}
{"custom_id":"distill-abc-3","result":{"type":"canceled"}}
{"custom_id":"distill-abc-4","result":{"type":"expired"}}
`))
	f.Add([]byte(`{"custom_id":"x","result":{"type":"errored","error":{"type":"authentication_error","message":"key ` + keyA + `"}}}`))
	f.Add([]byte("not json\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			line = bytes.TrimSpace(line)
			row, ok := parseRow(line)
			if !ok {
				continue
			}
			_, _ = rowText(row)
			if row.Result.Type == "errored" || len(row.Result.Error) > 0 {
				if msg := rowError(row.Result.Error, credA).Error(); strings.Contains(msg, keyA) {
					t.Fatalf("errored row message keeps the credential: %q", msg)
				}
			}
		}
	})
}
