package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const secretValue = "sk-ant-SECRET-7f3a9"

// holder is how credentials travel in other packages' structs.
type holder struct {
	Name string
	Cred Credential
	Ptr  *Credential
}

func printables() map[string]any {
	c := Credential{Scheme: SchemeAPIKey, Value: secretValue}
	b := Credential{Scheme: SchemeBearer, Value: secretValue}
	return map[string]any{
		"api-key":        c,
		"bearer":         b,
		"pointer":        &c,
		"struct":         holder{Name: "n", Cred: c, Ptr: &b},
		"struct pointer": &holder{Name: "n", Cred: b, Ptr: &c},
		"slice":          []Credential{c, b},
		"map":            map[string]Credential{"a": c},
	}
}

func TestCredentialNeverPrintsValue(t *testing.T) {
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-8v", "%T"}
	for name, v := range printables() {
		for _, verb := range verbs {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secretValue) || strings.Contains(out, fmt.Sprintf("%x", secretValue)) {
				t.Errorf("%s with %s leaks: %s", name, verb, out)
			}
		}
		for fn, out := range map[string]string{
			"Sprint":   fmt.Sprint(v),
			"Sprintln": fmt.Sprintln(v),
			"Errorf":   fmt.Errorf("call failed for %v: %w", v, errors.New("x")).Error(),
		} {
			if strings.Contains(out, secretValue) {
				t.Errorf("%s with %s leaks: %s", name, fn, out)
			}
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: json: %v", name, err)
		}
		if bytes.Contains(out, []byte(secretValue)) {
			t.Errorf("%s json leaks: %s", name, out)
		}
	}
}

func TestCredentialPrintedForms(t *testing.T) {
	c := Credential{Scheme: SchemeAPIKey, Value: secretValue}
	tests := []struct {
		format string
		arg    any
		want   string
	}{
		{"%v", c, "api-key(redacted)"},
		{"%s", Credential{Scheme: SchemeBearer, Value: secretValue}, "bearer(redacted)"},
		{"%v", Credential{}, "none"},
		{"%q", c, `"api-key(redacted)"`},
		{"%#v", c, `auth.Credential{Scheme:"api-key", Value:"redacted"}`},
		{"%+v", holder{Name: "n", Cred: c}, "{Name:n Cred:api-key(redacted) Ptr:<nil>}"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf(tt.format, tt.arg); got != tt.want {
			t.Errorf("Sprintf(%q) = %q, want %q", tt.format, got, tt.want)
		}
	}
	out, _ := json.Marshal(holder{Name: "n", Cred: c})
	if want := `{"Name":"n","Cred":"api-key(redacted)","Ptr":null}`; string(out) != want {
		t.Errorf("json = %s, want %s", out, want)
	}
	// The JSON form must not decode back into a usable credential.
	var back Credential
	if err := json.Unmarshal([]byte(`"api-key(redacted)"`), &back); err == nil {
		t.Errorf("redacted JSON decoded into %#v", back)
	}
}

func TestCredentialZapNeverLogsValue(t *testing.T) {
	var buf bytes.Buffer
	for _, enc := range []zapcore.Encoder{
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	} {
		log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.DebugLevel))
		for name, v := range printables() {
			log.Info("call", zap.Any(name, v), zap.Reflect("reflect", v))
		}
		c := Credential{Scheme: SchemeBearer, Value: secretValue}
		log.Info("call", zap.Object("obj", c), zap.Stringer("str", c), zap.Any("any", c))
		log.With(zap.Any("ctx", c)).Error("failed", zap.Error(fmt.Errorf("upstream refused %v", c)))
		_ = log.Sync()
	}
	if bytes.Contains(buf.Bytes(), []byte(secretValue)) {
		t.Fatalf("zap output leaks:\n%s", buf.String())
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"obj":{"scheme":"bearer","present":true}`)) {
		t.Fatalf("zap object form missing:\n%s", buf.String())
	}
}

func TestCredentialSlogNeverLogsValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c := Credential{Scheme: SchemeAPIKey, Value: secretValue}
	log.Info("call", "cred", c, "holder", holder{Cred: c})
	if bytes.Contains(buf.Bytes(), []byte(secretValue)) {
		t.Fatalf("slog output leaks: %s", buf.String())
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"cred":"api-key(redacted)"`)) {
		t.Fatalf("slog form missing: %s", buf.String())
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	k, err := NewKeyring(strings.Repeat("k", MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, v := range []any{k, *k, struct{ K *Keyring }{k}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, fmt.Sprintf("%x", k.fp.key)) || strings.Contains(out, string(k.fp.key[:4])) {
				t.Errorf("%s of %T leaks keys: %s", verb, v, out)
			}
		}
	}
	if got := fmt.Sprint(k); got != "auth.Keyring(redacted)" {
		t.Errorf("Sprint(keyring) = %q", got)
	}
}
