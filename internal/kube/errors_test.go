package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

type temporaryError bool

func (t temporaryError) Error() string   { return fmt.Sprintf("temporary=%v", bool(t)) }
func (t temporaryError) Temporary() bool { return bool(t) }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func dial(err error) error {
	return &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}}
}

func TestIsTransient(t *testing.T) {
	deployments := schema.GroupResource{Group: "apps", Resource: "deployments"}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"nil":                       {nil, false},
		"connection refused":        {dial(syscall.ECONNREFUSED), true},
		"connection reset":          {fmt.Errorf("Deployment ns/a: %w", &url.Error{Op: "Patch", URL: "x", Err: syscall.ECONNRESET}), true},
		"unexpected EOF":            {&url.Error{Op: "Get", URL: "x", Err: io.ErrUnexpectedEOF}, true},
		"client timeout":            {&url.Error{Op: "Get", URL: "x", Err: timeoutError{}}, true},
		"deadline":                  {fmt.Errorf("waiting: %w", context.DeadlineExceeded), true},
		"canceled":                  {fmt.Errorf("x: %w", context.Canceled), false},
		"aggregated API 503":        {apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), true},
		"server timeout":            {apierrors.NewServerTimeout(deployments, "patch", 1), true},
		"gateway timeout":           {apierrors.NewTimeoutError("timed out", 1), true},
		"too many requests":         {apierrors.NewTooManyRequests("slow down", 1), true},
		"stalled push":              {fmt.Errorf("image //a: %w", temporaryError(true)), true},
		"registry 401":              {temporaryError(false), false},
		"conversion 500":            {apierrors.NewInternalError(errors.New(`quantities must match the regular expression`)), false},
		"invalid":                   {apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "a", field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "bad")}), false},
		"bad request":               {apierrors.NewBadRequest("nope"), false},
		"unauthorized":              {apierrors.NewUnauthorized("who are you"), false},
		"forbidden":                 {apierrors.NewForbidden(deployments, "a", errors.New("no")), false},
		"webhook denial":            {apierrors.NewForbidden(deployments, "a", errors.New(`admission webhook "deny.example.com" denied the request`)), false},
		"conflict":                  {&ConflictError{Ref: Ref{Kind: "ConfigMap", Name: "c"}, Details: []string{".data.x"}}, false},
		"unknown authority":         {&url.Error{Op: "Get", URL: "x", Err: x509.UnknownAuthorityError{}}, false},
		"wrong host name":           {&url.Error{Op: "Get", URL: "x", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}}, false},
		"certificate on a dial":     {&url.Error{Op: "Get", URL: "x", Err: &net.OpError{Op: "dial", Err: x509.CertificateInvalidError{}}}, false},
		"no such host":              {&net.DNSError{Err: "no such host", Name: "nowhere", IsNotFound: true}, false},
		"dns timeout":               {&net.DNSError{Err: "timeout", Name: "slow", IsTimeout: true}, true},
		"plain error":               {errors.New("something else"), false},
		"unknown kind":              {&UnknownKindError{Ref: Ref{Kind: "Widget"}}, false},
		"dial to an unreachable ip": {dial(syscall.EHOSTUNREACH), true},
	}
	got, want := map[string]bool{}, map[string]bool{}
	for name, tt := range tests {
		got[name], want[name] = IsTransient(tt.err), tt.want
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("IsTransient (-want +got):\n%s", d)
	}
}
