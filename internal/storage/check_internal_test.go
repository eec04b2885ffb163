// Tests the fix that a check names for HTTP 403 when the clients use an identity: the
// least-privilege role of each resource, which the project's Bicep assigns.
package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestForbiddenFixNamesRolePerResource(t *testing.T) {
	identity := &Clients{}
	cases := map[string]string{
		"queue":        "Storage Queue Data Message Processor and Storage Queue Data Reader on the queue",
		"poison queue": "Storage Queue Data Message Sender and Storage Queue Data Reader on the poison queue",
		"table":        "Storage Table Data Contributor on the table",
	}
	for kind, roles := range cases {
		t.Run(kind, func(t *testing.T) {
			assert.Contains(t, identity.forbiddenFix(kind), roles)
		})
	}
}
