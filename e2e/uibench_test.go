//go:build e2e

package e2e

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/devui"
)

// TestUIAt200Deployables measures the UI over a store holding 200 deployables
// (fake ones: no cluster), 500 cycles and 20,000 log lines: navigation start to
// the list on screen (goal 1 s), and a cycle's report to its line in the page
// (goal 100 ms). It fails when the page does not show them; it logs the figures.
func TestUIAt200Deployables(t *testing.T) {
	s := devui.NewStore()
	var ds []dev.Deployable
	for i := range 200 {
		ds = append(ds, dev.Deployable{Target: fmt.Sprintf("//services/group%02d/svc%03d:deploy", i%20, i), State: dev.StateReady,
			Digest: fmt.Sprintf("sha256:%064d", i), LastCycleMS: int64(1000 + i), Updated: time.Now()})
	}
	all := make([]string, len(ds))
	for i, d := range ds {
		all[i] = d.Target
		s.Deployable(d)
	}
	for n := 1; n <= 500; n++ {
		s.CycleDone(&dev.Cycle{N: n, Outcome: dev.OK, Affected: all[n%200 : n%200+1], Deployables: ds, TotalMillis: 900,
			PhaseMillis: map[dev.State]int64{dev.Building: 500, dev.Applying: 100}})
	}
	for i := range 20_000 {
		s.Log(all[i%200], "pod", fmt.Sprintf("[svc/app] request %d served", i))
	}
	srv := httptest.NewServer(&devui.Server{Store: s})
	t.Cleanup(srv.Close) // after the browser's cleanup closes its stream
	b := newBrowser(t)
	b.do("opening the UI", chromedp.Navigate(srv.URL))
	b.waitFor(`document.querySelectorAll('tr.res').length === 200 && document.body.dataset.listAt`, time.Minute)
	listAt, _ := strconv.ParseFloat(eval[string](b, `document.body.dataset.listAt`), 64)
	t.Logf("GOAL first render (navigation start to the list of 200): %.0f ms vs 1000 ms", listAt)

	eval[any](b, `void new MutationObserver((_, o) => {
		if (document.querySelector('#cycles li[data-n="501"]')) { o.disconnect(); window.seenAt = Date.now(); }
	}).observe(document.querySelector('#cycles'), {childList: true})`)
	sent := time.Now()
	s.CycleDone(&dev.Cycle{N: 501, Outcome: dev.OK, Affected: all[:1], Deployables: ds, TotalMillis: 900})
	b.waitFor(`window.seenAt`, 30*time.Second)
	seen := eval[float64](b, `window.seenAt`)
	latency := time.UnixMilli(int64(seen)).Sub(sent)
	t.Logf("GOAL cycle to UI: %d ms vs 100 ms", latency.Milliseconds())
	b.shot("7-gen200")
}
