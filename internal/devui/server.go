package devui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/dev"
)

//go:embed assets
var assets embed.FS

// Status is what GET /api/v1/status answers: which loop this is.
type Status struct {
	PID       int       `json:"pid"`
	Workspace string    `json:"workspace"`
	URL       string    `json:"url"`
	Started   time.Time `json:"started"`
	Loop      LoopState `json:"loop"`
}

// ButtonRunner runs a button's target (`bazel run TARGET`), its output to out.
type ButtonRunner func(ctx context.Context, target string, out io.Writer) error

// Server serves the UI and the API over a store. Actions go to the loop through
// its Actions input; the server never writes the loop's state itself.
type Server struct {
	Store   *Store
	Actions chan<- dev.Action
	// Buttons are the custom buttons: name -> bazel run target.
	Buttons map[string]string
	Run     ButtonRunner
	Status  Status
	// Ctx bounds the buttons' runs (the loop's lifetime).
	Ctx context.Context

	once sync.Once
	mux  *http.ServeMux
}

// ServeHTTP serves the page, its assets and /api/v1.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.routes)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	for name, target := range s.Buttons {
		s.Store.setButton(Button{Name: name, Target: target})
	}
	if s.Ctx == nil {
		s.Ctx = context.Background()
	}
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /", http.FileServerFS(static))
	m.HandleFunc("GET /api/v1/status", s.status)
	m.HandleFunc("GET /api/v1/deployables", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Store.Resources()) })
	m.HandleFunc("GET /api/v1/deployable", s.detail)
	m.HandleFunc("GET /api/v1/cycles", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Store.Cycles()) })
	m.HandleFunc("GET /api/v1/snapshot", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Store.Snapshot()) })
	m.HandleFunc("GET /api/v1/logs", s.logs)
	m.HandleFunc("GET /api/v1/events", s.events)
	m.HandleFunc("POST /api/v1/actions", s.action)
	m.HandleFunc("POST /api/v1/buttons/{name}", s.button)
	s.mux = m
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.Status
	st.Loop = s.Store.Loop()
	writeJSON(w, st)
}

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	d, ok := s.Store.Detail(target)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%q is not one of the loop's deployables", target))
		return
	}
	writeJSON(w, d)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	writeJSON(w, s.Store.Logs(r.URL.Query().Get("target"), after))
}

// ActionRequest is the body of POST /api/v1/actions.
type ActionRequest struct {
	Action dev.ActionKind `json:"action"` // trigger, enable, disable
	Target string         `json:"target"`
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("want {\"action\": \"trigger|enable|disable\", \"target\": LABEL}: %w", err))
		return
	}
	if err := Act(r.Context(), s.Actions, req.Action, req.Target); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, map[string]string{"result": "ok"})
}

// Act sends an action to the loop and waits for its answer.
func Act(ctx context.Context, actions chan<- dev.Action, kind dev.ActionKind, target string) error {
	if actions == nil {
		return errors.New("this loop takes no actions")
	}
	reply := make(chan error, 1)
	select {
	case actions <- dev.Action{Kind: kind, Target: target, Reply: reply}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) button(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	target, ok := s.Buttons[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no button %q: the dev rule's buttons attribute declares them", name))
		return
	}
	if !s.Store.startButton(name) {
		writeError(w, http.StatusConflict, fmt.Errorf("button %q is running already", name))
		return
	}
	go s.runButton(name, target)
	writeJSON(w, map[string]string{"result": "started"})
}

// runButton runs a button's target, its output to the button's log.
func (s *Server) runButton(name, target string) {
	logTarget := "button:" + name
	s.Store.Log(logTarget, "button", "$ bazel run "+target)
	out := s.Store.LogWriter(logTarget, "button")
	err := s.Run(s.Ctx, target, out)
	_, _ = out.Write([]byte("\n"))
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		code = -1
	}
	msg := fmt.Sprintf("exit status %d", code)
	if err != nil && code == -1 {
		msg = err.Error()
	}
	s.Store.Log(logTarget, "button", msg)
	s.Store.endButton(name, code, err)
}

func (s *Store) setButton(b Button) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buttons[b.Name] = &b
	s.publishLocked("button", b)
}

func (s *Store) startButton(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buttons[name]
	if b == nil || b.Running {
		return false
	}
	b.Running, b.ExitCode, b.Error, b.Started, b.Ended = true, nil, "", s.now(), time.Time{}
	s.publishLocked("button", *b)
	return true
}

func (s *Store) endButton(name string, code int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buttons[name]
	b.Running, b.ExitCode, b.Ended = false, &code, s.now()
	if err != nil {
		b.Error = err.Error()
	}
	s.publishLocked("button", *b)
}

// events streams the store: a "snapshot" event, then every change as it
// happens. A client that falls behind is dropped: its stream ends, and
// EventSource reconnects to a fresh snapshot.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	snap, ch, cancel := s.Store.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	if err := writeEvent(w, Event{Seq: snap.Seq, Type: "snapshot", Data: snap}); err != nil {
		return
	}
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return // dropped
			}
			if writeEvent(w, ev) != nil {
				return
			}
			// Send what else is waiting in one flush.
			for n := len(ch); n > 0; n-- {
				if ev, ok = <-ch; !ok || writeEvent(w, ev) != nil {
					return
				}
			}
			flusher.Flush()
		}
	}
}

func writeEvent(w io.Writer, ev Event) error {
	b, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, b)
	return err
}
