package kubeconfig

// This file tests the errors of RESTConfig when no usable kubeconfig exists.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRESTConfigWithoutKubeconfig(t *testing.T) {
	t.Log("Pointing HOME and KUBECONFIG at an empty directory so no kubeconfig exists")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")

	_, err := Source{}.RESTConfig()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no kubeconfig found")
	assert.Contains(t, err.Error(), "set --kubeconfig or KUBECONFIG")
	assert.Contains(t, err.Error(), "edwctl sim up")
	assert.NotContains(t, err.Error(), "KUBERNETES_MASTER")
}
