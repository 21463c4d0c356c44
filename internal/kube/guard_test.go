package kube

import (
	"errors"
	"testing"
)

func TestGuard(t *testing.T) {
	tests := []struct {
		context string
		allowed []string
		ok      bool
	}{
		{"slipway-local", nil, true},
		{"kind-dev", nil, true},
		{"k3d-shop", nil, true},
		{"minikube", nil, true},
		{"docker-desktop", nil, true},
		{"microk8s", nil, true},
		{"prod", nil, false},
		{"gke_company_europe_prod", []string{"staging"}, false},
		{"staging", []string{"staging"}, true},
		{"kindly-prod", nil, false}, // a prefix match needs the dash
	}
	for _, tt := range tests {
		err := Guard{Allowed: tt.allowed}.Check(tt.context)
		if got := err == nil; got != tt.ok {
			t.Errorf("Check(%q) with allowed %v = %v, want allowed=%v", tt.context, tt.allowed, err, tt.ok)
		}
		var fe *ForbiddenContextError
		if err != nil && (!errors.As(err, &fe) || fe.Context != tt.context) {
			t.Errorf("Check(%q): error %v does not name the context", tt.context, err)
		}
	}
}

func TestGuardAdmit(t *testing.T) {
	tests := []struct {
		name     string
		guard    Guard
		conn     Connection
		admitted bool
	}{
		{"local current context", Guard{}, Connection{Context: "kind-dev", Current: true}, true},
		{"current prod, writing", Guard{}, Connection{Context: "prod", Current: true}, false},
		{"current prod, reading", Guard{ReadOnly: true}, Connection{Context: "prod", Current: true}, false},
		{"prod named, writing", Guard{}, Connection{Context: "prod"}, false},
		{"prod named, reading", Guard{ReadOnly: true}, Connection{Context: "prod"}, true},
		{"current prod allowed", Guard{Allowed: []string{"prod"}}, Connection{Context: "prod", Current: true}, true},
	}
	for _, tt := range tests {
		err := tt.guard.Admit(&tt.conn)
		if got := err == nil; got != tt.admitted {
			t.Errorf("%s: Admit = %v, want admitted=%v", tt.name, err, tt.admitted)
		}
		var fe *ForbiddenContextError
		if err != nil && (!errors.As(err, &fe) || fe.Context != tt.conn.Context || fe.ReadOnly != tt.guard.ReadOnly) {
			t.Errorf("%s: error %#v does not describe the refusal", tt.name, err)
		}
	}
}
