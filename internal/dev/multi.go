package dev

import "time"

// Reporters sends every event to each of its reporters, in order (the terminal
// view and the web UI, say).
type Reporters []Reporter

var _ Reporter = Reporters(nil)

func (rs Reporters) State(s State, detail string) {
	for _, r := range rs {
		r.State(s, detail)
	}
}

func (rs Reporters) CycleDone(c *Cycle) {
	for _, r := range rs {
		r.CycleDone(c)
	}
}

func (rs Reporters) Applied(cycle int, objects []ObjectReport, sinceStart time.Duration) {
	for _, r := range rs {
		r.Applied(cycle, objects, sinceStart)
	}
}

func (rs Reporters) Ready(c *Cycle) {
	for _, r := range rs {
		r.Ready(c)
	}
}

func (rs Reporters) Problem(err error) {
	for _, r := range rs {
		r.Problem(err)
	}
}

func (rs Reporters) Deployable(d Deployable) {
	for _, r := range rs {
		r.Deployable(d)
	}
}
