package knowledge

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"regexp"
	"strings"
)

// DefaultProject holds the knowledge of sessions whose project is unknown.
const DefaultProject = "default"

// workingDir finds the working directory Claude Code (and agents that copy
// its environment block) puts in the system prompt:
// "Working directory: /home/me/src/app" or "Primary working directory: …".
var workingDir = regexp.MustCompile(`(?mi)^[ \t]*(?:primary )?working directory:[ \t]*(\S[^\r\n]*)$`)

// ProjectOf names the project a session works on from its system prompt:
// "p" and 16 hex digits of the working directory's SHA-256 (a path says
// who someone is and what they work on; the key only needs to tell
// projects apart), or DefaultProject when the prompt names none.
func ProjectOf(system string) string {
	if !namesWorkingDir(system) {
		return DefaultProject
	}
	m := workingDir.FindStringSubmatch(system)
	if m == nil {
		return DefaultProject
	}
	dir := path.Clean(strings.TrimSpace(m[1]))
	sum := sha256.Sum256([]byte(dir))
	return "p" + hex.EncodeToString(sum[:8])
}

// namesWorkingDir is workingDir's cheap precondition: "directory" (any
// case) right before a colon. ("working" is left to the regexp: its k has a
// Unicode case fold, the Kelvin sign, that an ASCII compare would miss.) A session's first turn runs ProjectOf
// on a system prompt of tens of KB, and the multi-line regexp costs about
// 4% of the gateway's CPU on such turns when run on every prompt
// (docs/benchmarks.md); most colons are rejected by one byte compare.
func namesWorkingDir(system string) bool {
	const name = "directory"
	for i := len(name); i < len(system); i++ {
		j := strings.IndexByte(system[i:], ':')
		if j < 0 {
			return false
		}
		i += j
		if c := system[i-1]; (c == 'y' || c == 'Y') && strings.EqualFold(system[i-len(name):i], name) {
			return true
		}
	}
	return false
}
