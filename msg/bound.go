package msg

import "fmt"

// The memory bound of a decode. A message costs a fixed struct (~180 bytes
// with its id) and each block another (~190 bytes), whatever their size on
// the wire: `{}` is 3 bytes there. Left unbounded, a body of 32 MiB of empty
// messages decodes into gigabytes. So a decode may keep at most
// DecodeRatio bytes (structs, ids, decoded text) per byte of messages it has
// read so far, plus DecodeSlack; it stops with a *ShapeError as soon as it
// would exceed that, having spent at most the bound. Real conversations stay
// far below it (a Claude Code session keeps ~0.3–0.6 bytes per byte: tool
// outputs are kept as slices of the body, not decoded); the slack lets a
// conversation of thousands of one-line messages through all the same.
const (
	DecodeRatio = 2
	DecodeSlack = 4 << 20
)

// ShapeError is a messages array shaped to cost more decoded than the bound
// allows: an absurd count of (typically empty) messages or blocks for its
// size. Callers answer it with 400; the upstream would refuse such a body too.
type ShapeError struct {
	Messages, Blocks int // decoded when the bound was hit
	Bytes            int // bytes of the array read by then
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("messages: %d messages and %d content blocks in the first %d bytes are more than this gateway decodes "+
		"(decoded messages may take at most %d bytes per byte of the request, plus %d MiB); "+
		"empty messages and content blocks are not valid", e.Messages, e.Blocks, e.Bytes, DecodeRatio, DecodeSlack>>20)
}

// decoder is one decode of a messages array: the body, its memory budget
// and the block slab.
type decoder struct {
	b      []byte
	from   int // where the array starts: the budget grows with b[from:]
	used   int // bytes kept so far (Decoded.add's measure)
	msgs   int
	blocks int
	// margin is the least room the bound left at any check after the
	// first message (what a later decode taking these messages over
	// may spend, see Decoded.takeOver); afterFirst says the checks count.
	margin     int
	afterFirst bool
	// slab holds the blocks of many messages, each message a capped slice
	// of it: one allocation per few hundred blocks instead of one (with
	// spare capacity) per message.
	slab []Block
}

// allows reports whether keeping extra more bytes stays within the bound
// once the decode has read up to b[at].
func (d *decoder) allows(extra, at int) bool {
	if d == nil || d.from < 0 {
		return true
	}
	room := DecodeRatio*(at-d.from) + DecodeSlack - (d.used + extra)
	if d.afterFirst {
		d.margin = min(d.margin, room)
	}
	return room >= 0
}

func (d *decoder) shapeError(at int) error {
	return &ShapeError{Messages: d.msgs, Blocks: d.blocks, Bytes: at - d.from}
}

// appendBlock adds a block of the message whose blocks start at slab index
// first, and returns the (possibly moved) first index.
func (d *decoder) appendBlock(blk Block, first int) int {
	if len(d.slab) == cap(d.slab) {
		n := len(d.slab) - first
		c := min(max(2*cap(d.slab), 16), 1024)
		slab := make([]Block, n, max(c, 2*n))
		copy(slab, d.slab[first:])
		d.slab, first = slab, 0
	}
	d.slab = append(d.slab, blk)
	d.blocks++
	return first
}

// blocksFrom returns the message's blocks, capped so that an append by a
// caller copies instead of writing into the slab.
func (d *decoder) blocksFrom(first int) []Block {
	return d.slab[first:len(d.slab):len(d.slab)]
}
