package auth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"go.uber.org/zap/zapcore"
)

// Everything in this file exists so that a Credential that slips into a log
// line, an error, an admin response or a debug print shows its scheme and
// nothing else. Each printing path of the standard library and zap has its
// own hook, so each is covered.
//
// One path cannot be covered from here: fmt prints unexported struct fields
// by reflection without calling their methods, so a struct holding a
// Credential in an unexported field must not itself be printed with %v (hold
// a *Credential there, or give the struct its own String).

// redacted is the printable form: the scheme, never the value.
func (c Credential) redacted() string {
	if c.IsZero() {
		return "none"
	}
	return string(c.Scheme) + "(redacted)"
}

// String returns "api-key(redacted)", "bearer(redacted)" or "none".
func (c Credential) String() string { return c.redacted() }

// GoString serves %#v.
func (c Credential) GoString() string {
	return fmt.Sprintf("auth.Credential{Scheme:%q, Value:%q}", string(c.Scheme), "redacted")
}

// Format serves every fmt verb, so %x, %d or %+v cannot fall back to
// printing the struct fields.
func (c Credential) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(c.GoString()))
	case verb == 'q':
		_, _ = f.Write([]byte(strconv.Quote(c.redacted())))
	default:
		_, _ = f.Write([]byte(c.redacted()))
	}
}

// MarshalJSON writes the redacted string. It is deliberately not an object:
// decoding it back into a Credential fails loudly instead of producing a
// credential whose value is the word "redacted". Credentials are persisted
// only through Keyring.Seal.
func (c Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }

// MarshalLogObject makes zap.Any / zap.Object log the scheme only.
func (c Credential) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("scheme", string(c.Scheme))
	enc.AddBool("present", !c.IsZero())
	return nil
}

// LogValue makes log/slog print the redacted form.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.redacted()) }

// Interface guards.
var (
	_ fmt.Stringer            = Credential{}
	_ fmt.GoStringer          = Credential{}
	_ fmt.Formatter           = Credential{}
	_ json.Marshaler          = Credential{}
	_ zapcore.ObjectMarshaler = Credential{}
	_ slog.LogValuer          = Credential{}
)
