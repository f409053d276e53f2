package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CertificateActions lists the CAS API actions whose ActionTrail events start a
// deployment. The list lives here and nowhere else. Upload actions carry the new
// certificate's ID in the response; the order actions carry it only once the
// certificate exists, so for them an event without an ID is reported, and the CAS
// issued event deploys the certificate instead.
func CertificateActions() []string {
	return []string{
		"UploadUserCertificate",                  // cas 2020-04-07: upload a certificate + key
		"UploadCertificate",                      // older CAS API name for the same
		"CreateCertificateForPackageRequest",     // order a certificate from a package
		"CreateCertificateRequest",               // order a DV certificate
		"CreateCertificateWithCsrRequest",        // order with a customer CSR
		"RenewCertificateOrderForPackageRequest", // renew an ordered certificate
	}
}

// actionTrailData is the part of an ActionTrail event's data certflow reads.
type actionTrailData struct {
	EventName    string `json:"eventName"`
	ServiceName  string `json:"serviceName"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

func isActionTrail(eventType string) bool {
	return strings.Contains(eventType, ":ActionTrail:")
}

// actionTrailCertID checks that the event records a successful certificate action
// and extracts the certificate ID from its parameters or response.
func actionTrailCertID(ce CloudEvent) (int64, error) {
	var at actionTrailData
	if len(ce.Data) == 0 {
		return 0, fmt.Errorf("ActionTrail event: data: required")
	}
	if err := json.Unmarshal(ce.Data, &at); err != nil {
		return 0, fmt.Errorf("ActionTrail event: data: %w", err)
	}
	if at.EventName == "" {
		return 0, errors.New("ActionTrail event: data.eventName: required")
	}
	if !slices.Contains(CertificateActions(), at.EventName) {
		return 0, fmt.Errorf("ActionTrail action %q (service %q) does not concern certificates; handled actions: %s",
			at.EventName, at.ServiceName, strings.Join(CertificateActions(), ", "))
	}
	if at.ErrorCode != "" {
		return 0, fmt.Errorf("ActionTrail %s failed (%s: %s); nothing to deploy",
			at.EventName, at.ErrorCode, abbreviate(at.ErrorMessage, 200))
	}
	id, err := extractCertID("data", ce.Data)
	if errors.Is(err, ErrNoCertID) {
		return 0, fmt.Errorf("%w (ActionTrail %s names no certificate; the CAS issued event will)", err, at.EventName)
	}
	return id, err
}
