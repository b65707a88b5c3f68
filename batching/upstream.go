package batching

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
)

const anthropicVersion = "2023-06-01"

// maxJSONBody bounds a batch object or list page read into memory.
const maxJSONBody = 16 << 20

// batchObject is the part of a message_batch the queue reads.
type batchObject struct {
	ID               string `json:"id"`
	ProcessingStatus string `json:"processing_status"`
	RequestCounts    struct {
		Processing int `json:"processing"`
		Succeeded  int `json:"succeeded"`
		Errored    int `json:"errored"`
		Canceled   int `json:"canceled"`
		Expired    int `json:"expired"`
	} `json:"request_counts"`
	CreatedAt  string  `json:"created_at"`
	ResultsURL *string `json:"results_url"`

	// OpenAI batches only (openai.go): the record the batch was created
	// for (its metadata) and its output and error files.
	record string
	input  string
	files  []string
}

func (b batchObject) total() int {
	c := b.RequestCounts
	return c.Processing + c.Succeeded + c.Errored + c.Canceled + c.Expired
}

// statusError is a non-2xx answer. Its text has the upstream's error type
// and message, never a header.
type statusError struct {
	status int
	typ    string
	msg    string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("upstream answered %d %s: %s", e.status, e.typ, e.msg)
}

// refused reports a 401 or 403: the credential is not accepted there.
func (e *statusError) refused() bool {
	return e.status == http.StatusUnauthorized || e.status == http.StatusForbidden
}

// endpoint is {upstream}/v1/messages/batches[/parts...].
func (q *Queue) endpoint(parts ...string) *url.URL {
	return q.cfg.Upstream.JoinPath(append([]string{"v1", "messages", "batches"}, parts...)...)
}

// request makes one upstream request with a JSON body (or none).
func (q *Queue) request(ctx context.Context, method string, u *url.URL, cred auth.Credential, body []byte) (*http.Response, error) {
	return q.send(ctx, method, u, cred, "application/json", body)
}

// send makes one upstream request with exactly cred's auth header, in its
// provider's form: Anthropic's (with the OAuth beta for bearer credentials) or
// OpenAI's Bearer. A URL that is not on the credential's own provider's
// upstream is refused before anything is sent: a credential goes only where it
// was accepted (docs/sessions-and-identity.md, Provider binding).
func (q *Queue) send(ctx context.Context, method string, u *url.URL, cred auth.Credential, contentType string, body []byte) (*http.Response, error) {
	base := q.cfg.Upstream
	if cred.Provider == auth.ProviderOpenAI {
		base = q.cfg.OpenAIUpstream
	}
	if base == nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return nil, errors.New("batching: refusing to send a credential to another provider's upstream")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "caddy-lore")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if cred.Provider == auth.ProviderOpenAI {
		cred.SetOpenAI(req.Header)
	} else {
		req.Header.Set("Anthropic-Version", anthropicVersion)
		cred.SetAnthropic(req.Header)
		cred.EnsureOAuthBeta(req.Header)
	}
	return q.client.Do(req)
}

// callJSON makes a request and decodes a 2xx JSON answer into out. A non-2xx
// answer is a *statusError; anything else is a transport (or decoding) error.
func (q *Queue) callJSON(ctx context.Context, method string, u *url.URL, cred auth.Credential, body []byte, out any) error {
	return q.callType(ctx, method, u, cred, "application/json", body, out)
}

// callType is callJSON with the request body's content type.
func (q *Queue) callType(ctx context.Context, method string, u *url.URL, cred auth.Credential, contentType string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, q.tun.httpTimeout)
	defer cancel()
	resp, err := q.send(ctx, method, u, cred, contentType, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := checkStatus(resp, cred); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("upstream answer is not the expected JSON: %w", err)
		}
	}
	return nil
}

// checkStatus turns a non-2xx response into a *statusError (reading a
// bounded part of its body). Its message reaches logs, so it is what
// llm.ErrorDetail keeps of the body: an error envelope's message with cred
// redacted, and nothing of any other body (a proxy's page may echo the
// request's headers, the credential among them).
func checkStatus(resp *http.Response, cred auth.Credential) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &statusError{status: resp.StatusCode}
	e.typ, e.msg, _ = llm.ErrorDetail(raw, cred)
	return e
}

// resultsURL is the batch's results_url when it is on the configured
// upstream's origin (the credential is sent there), else
// {upstream}/v1/messages/batches/{id}/results.
func (q *Queue) resultsURL(b batchObject) *url.URL {
	if b.ResultsURL != nil && *b.ResultsURL != "" {
		u, err := url.Parse(*b.ResultsURL)
		if err == nil && u.Scheme == q.cfg.Upstream.Scheme && u.Host == q.cfg.Upstream.Host {
			return u
		}
		q.log.Warn("batching: results_url is not on the upstream; using the default path", zap.String("batch", b.ID))
	}
	return q.endpoint(b.ID, "results")
}

// parseTime reads an RFC 3339 timestamp; zero when absent or malformed.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
