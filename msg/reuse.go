package msg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// Decoded is a decoded messages array together with what a later decode of
// the same conversation needs to take its unchanged messages over (see
// DecodeArray). It is immutable once returned, and so are the bytes its
// messages point into: they are shared with the decodes that take them
// over, like every decoded message is read-only (the pipeline copies what it
// changes).
type Decoded struct {
	Messages []Message
	// Reused is how many messages were taken over from the earlier decode
	// instead of being decoded.
	Reused int
	// tail is the array's JSON after the first message up to the end of the
	// last (separators included), as the pieces it is kept in: the body the
	// conversation was first decoded from, then a copy of each later turn's
	// new messages. The messages after the first point into these pieces.
	tail [][]byte
	// ends[i] is the index in the concatenated tail just after message i
	// (ends[0] == 0); sizes[i] sums the estimated memory of messages 0..i.
	ends, sizes []int
	held        int // bytes of memory the tail pieces and the first message keep alive
	// firstLen is the bytes from the array's start to the end of its first
	// message, and margin the least room the decode bound (bound.go) left
	// at any check after it: what takeOver needs to hold the messages it
	// takes to the bound behind another first message.
	firstLen, margin int
}

// Size estimates the memory the decode keeps alive: the bytes its messages
// point into (the first body, the later tails) and the decoded structs and
// strings, for a cache's byte bound.
func (d *Decoded) Size() int {
	if len(d.sizes) == 0 {
		return d.held
	}
	return d.held + d.sizes[len(d.sizes)-1]
}

// DecodeArray decodes the messages array starting at b[start] (after optional
// whitespace), reading each byte once, and returns it with the index just
// after it.
//
// A client resends its whole history every turn, so most of a request is the
// previous request again. When prev is not nil it is called once the first
// message is decoded (with that message, whose id ignores cache markers) and
// may return an earlier decode of the same conversation. The bytes after the
// first message are then compared with that decode's, and every following
// message lying wholly inside the identical part is taken over as it is
// instead of being decoded and hashed again; the first difference (typically
// the cache marker the client moved off its previous last message) and
// everything after it are decoded. Nothing is assumed: a message is only
// taken over when its bytes, the separators before it and its position are
// the same, and when the decode bound holds it as it would without prev
// (takeOver), so the result equals a decode without prev. The first message is
// always decoded, as its marker may have moved too.
//
// Without prev (or when nothing is taken over) the messages point into b,
// which the result then keeps alive. Otherwise they point into the earlier
// decode's memory and, for the new ones, into a copy of their bytes: a
// cached decode holds its first body plus what was added since, not one
// body per turn.
func DecodeArray(b []byte, start int, prev func(first *Message) *Decoded) (*Decoded, int, error) {
	d := &Decoded{}
	dec := &decoder{b: b, from: start, slab: make([]Block, 0, 16), margin: math.MaxInt}
	firstEnd, took := -1, 0
	end, err := jsonscan.Array(b, start, func(es int) (int, error) {
		i := len(d.Messages)
		m, e, err := dec.message(es, i)
		if err != nil {
			var se *ShapeError
			if errors.As(err, &se) {
				return -1, err
			}
			return -1, fmt.Errorf("messages[%d]: %w", i, err)
		}
		if i == 0 {
			firstEnd = e
			d.firstLen = e - start
			d.Messages = make([]Message, 0, 16)
		}
		d.add(m, e-firstEnd)
		dec.used, dec.msgs = d.sizes[len(d.sizes)-1], len(d.Messages)
		if !dec.allows(0, e) {
			return -1, dec.shapeError(e)
		}
		if i == 0 {
			dec.afterFirst = true
		}
		if i == 0 && prev != nil {
			if p := prev(&d.Messages[0]); p != nil {
				took = d.takeOver(p, b[e:])
				if took > 0 {
					dec.margin = d.margin
				}
				// The walk goes on after the last message taken over:
				// Array only needs the index after what fn consumed.
				e = firstEnd + d.ends[len(d.ends)-1]
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, -1, err
	}
	switch {
	case d.Messages == nil:
		d.Messages = make([]Message, 0)
	case took == 0:
		d.tail = [][]byte{b[firstEnd : firstEnd+d.ends[len(d.ends)-1]]}
		d.held = cap(b)
	default:
		d.keep(b, firstEnd, took)
	}
	d.margin = dec.margin
	// Capped, so a caller's append can never write into a shared array.
	d.Messages = d.Messages[:len(d.Messages):len(d.Messages)]
	return d, end, nil
}

// Per-struct sizes for Size.
const (
	messageSize = int(unsafe.Sizeof(Message{}))
	blockSize   = int(unsafe.Sizeof(Block{}))
)

// add appends a message that ends at index end of the tail.
func (d *Decoded) add(m Message, end int) {
	size := messageSize + len(m.ID) + 16 // + its end and size
	for j := range m.Blocks {
		size += m.Blocks[j].size()
	}
	if n := len(d.sizes); n > 0 {
		size += d.sizes[n-1]
	}
	d.Messages = append(d.Messages, m)
	d.ends = append(d.ends, end)
	d.sizes = append(d.sizes, size)
}

// size is the memory a decoded block keeps besides the body it points into.
func (b *Block) size() int {
	return blockSize + len(b.Text) + len(b.Signature) + len(b.ToolID) + len(b.ToolName) + len(b.Output)
}

// takeOver appends the messages of p after its first that are unchanged in
// cur (the new array's bytes after its first message) and returns how many
// it appended.
func (d *Decoded) takeOver(p *Decoded, cur []byte) int {
	if len(p.ends) < 2 || len(d.ends) != 1 {
		return 0
	}
	// The decode bound held for p's messages behind p's first message, with
	// p.margin to spare at least. Behind this first message, the room at
	// each of their checks moves by what its bytes allow beyond p's first
	// minus what it keeps beyond it. Taken over only while the bound still
	// holds them, as a decode without p would: a first message that keeps
	// more for fewer bytes (an earlier turn padded it with bytes its id
	// ignores) does not carry messages past the bound; they are decoded.
	shift := (d.sizes[0] - p.sizes[0]) - DecodeRatio*(d.firstLen-p.firstLen)
	if shift > p.margin {
		return 0
	}
	same := commonPrefix(p.tail, cur)
	// p's messages 1..k-1 end inside the identical part.
	k := sort.Search(len(p.ends), func(i int) bool { return p.ends[i] > same })
	if k < 2 {
		return 0
	}
	n := len(p.Messages) + 8
	first := d.Messages[0]
	d.Messages = append(append(make([]Message, 0, n), first), p.Messages[1:k]...)
	d.ends = append(make([]int, 0, n), p.ends[:k]...)
	d.sizes = append(make([]int, 0, n), d.sizes[0])
	for _, s := range p.sizes[1:k] {
		d.sizes = append(d.sizes, s-p.sizes[0]+d.sizes[0])
	}
	var dropped int
	d.tail, dropped = cut(p.tail, p.ends[k-1])
	d.held = p.held - p.firstHeld() - dropped
	d.Reused = k - 1
	d.margin = p.margin - shift // p.margin is finite: p has a message after its first
	return k - 1
}

// keep gives the messages decoded from b after the took taken over (and the
// first) their own copy of their bytes, so the decode does not keep b alive
// for a few kilobytes of it. The last message gets a copy of its own: it is
// the one a client changes on its next turn (it moves its cache marker off
// it), and its old copy is then dropped instead of kept for the rest.
func (d *Decoded) keep(b []byte, firstEnd, took int) {
	last := len(d.Messages) - 1
	if split := max(last-1, took); split > took {
		d.own(b, firstEnd, took, split)
	}
	if last > took {
		d.own(b, firstEnd, max(last-1, took), last)
	}
	m0 := &d.Messages[0]
	if len(m0.Raw) > 0 {
		raw := append([]byte(nil), m0.Raw...)
		*m0 = relocate(*m0, b, raw, cap(b)-cap(m0.Raw))
		d.held += len(raw)
	}
}

// own copies the bytes after message i up to the end of message j into a
// new tail piece, and points messages i+1..j into it.
func (d *Decoded) own(b []byte, firstEnd, i, j int) {
	from, to := firstEnd+d.ends[i], firstEnd+d.ends[j]
	piece := append([]byte(nil), b[from:to]...)
	for k := i + 1; k <= j; k++ {
		d.Messages[k] = relocate(d.Messages[k], b, piece, from)
	}
	d.tail = append(d.tail, piece)
	d.held += len(piece)
}

// firstHeld is the memory only the first message keeps alive: its copy of
// its bytes, unless it points into the first body.
func (d *Decoded) firstHeld() int {
	if len(d.tail) == 1 && d.Reused == 0 {
		return 0 // the first body: shared with the tail
	}
	return len(d.Messages[0].Raw)
}

// relocate returns m with every slice into b[off:] moved to the same place
// in to (to[0] is b[off]); its blocks are copied. Decoding makes its slices
// b[i:j] of the body, so their capacity tells where they are; a slice that
// is not inside b[off:off+len(to)] (checked by address, not assumed) is kept.
func relocate(m Message, b, to []byte, off int) Message {
	move := func(s []byte) []byte {
		at := cap(b) - cap(s)
		if len(s) == 0 || at < off || at+len(s) > off+len(to) || at+len(s) > len(b) || &b[at] != &s[0] {
			return s
		}
		return to[at-off : at-off+len(s)]
	}
	m.Raw, m.Content = move(m.Raw), move(m.Content)
	if m.Blocks != nil {
		blocks := make([]Block, len(m.Blocks))
		for j, blk := range m.Blocks {
			blk.Raw, blk.Input, blk.OutputRaw = move(blk.Raw), move(blk.Input), move(blk.OutputRaw)
			blocks[j] = blk
		}
		m.Blocks = blocks
	}
	return m
}

// cut returns the first n bytes of pieces, as pieces, and the length of the
// pieces it leaves out entirely (copies nothing else refers to any more).
func cut(pieces [][]byte, n int) ([][]byte, int) {
	out := make([][]byte, 0, len(pieces)+2)
	dropped := 0
	for _, p := range pieces {
		if n <= 0 {
			dropped += len(p)
			continue
		}
		out = append(out, p[:min(len(p), n)])
		n -= len(p)
	}
	return out, dropped
}

// commonPrefix returns the length of the longest common prefix of the
// concatenated pieces and b.
func commonPrefix(pieces [][]byte, b []byte) int {
	n := 0
	for _, p := range pieces {
		c := commonPrefixLen(p, b[n:])
		n += c
		if c < len(p) {
			break
		}
	}
	return n
}

// commonPrefixLen returns the length of the longest common prefix of a and
// b, comparing in chunks (memcmp speed) and narrowing down inside the first
// chunk that differs.
func commonPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	const chunk = 4096
	i := 0
	for i+chunk <= n && bytes.Equal(a[i:i+chunk], b[i:i+chunk]) {
		i += chunk
	}
	for w := min(chunk, n-i) / 2; w >= 16; w /= 2 {
		if bytes.Equal(a[i:i+w], b[i:i+w]) {
			i += w
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}
