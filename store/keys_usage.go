package store

// Keys of the per-person usage counters (usage.go). Like keys.go, this is
// the only place they are built. <p> is the key prefix.
//
//	key                  type  content                                          TTL
//	<p>usage:{<day>}     hash  "<figure>|<model>|<person>" → counter, for the    retention after the day
//	                           UTC day <day> (YYYY-MM-DD); figures: t (turns),  began (usageExpiry)
//	                           in, out, cr, cw (tokens), c, cf (cost and
//	                           counterfactual, micro-dollars), wc, wb, win,
//	                           wout, wcr, wcw, wcost (worker calls)
//
// <person> is the configured identity or a 12-hex keyed credential
// fingerprint, never a credential. A day's key is one slot; turns write it in
// the pipeline of their commit that already reaches other slots.

func (k keys) usageDay(day string) string { return k.prefix + "usage:{" + day + "}" }
