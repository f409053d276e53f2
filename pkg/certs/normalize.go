package certs

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// pemBlock is one block found in a PEM text: its 1-based position and what it holds.
type pemBlock struct {
	index int
	block *pem.Block
}

var (
	beginRE   = regexp.MustCompile(`-----BEGIN ([A-Z0-9]+(?: [A-Z0-9]+)*)-----`)
	escapedNL = regexp.MustCompile(`(?:\\+r)?\\+n`)
	headerKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*:$`)
)

// NormalizePEM returns every PEM block of data re-encoded canonically (LF line endings,
// 64-column base64, nothing between blocks) plus findings: pem_repaired (warning) when the
// text needed repairs (UTF-8 BOM, CRLF, blanks around lines, literal "\n" escapes, line breaks
// lost by flattening onto one line or turned into spaces), pem_utf16 or pem_malformed (errors)
// when it cannot be read. what names the input in messages ("cert.pem", "key PEM").
// Messages never quote the input, so key material cannot leak through them.
func NormalizePEM(data []byte, what string) ([]byte, []Finding) {
	blocks, fs := scanPEM(data, what)
	if len(blocks) == 0 && len(fs) == 0 {
		// A BEGIN marker with no block the scanner could take (e.g. a truncated first
		// line): still malformed, and it must say so.
		fs = append(fs, errorf(CodePEMMalformed, "%s: no complete PEM block found (a BEGIN line without its block)", what))
	}
	var out bytes.Buffer
	for _, b := range blocks {
		out.Write(pem.EncodeToMemory(b.block))
	}
	return out.Bytes(), fs
}

// scanPEM is the tolerant reader behind NormalizePEM.
func scanPEM(data []byte, what string) ([]pemBlock, []Finding) {
	if order := utf16Order(data); order != "" {
		return nil, []Finding{errorf(CodePEMUTF16, "%s is UTF-16 (%s) text; save it as UTF-8 or ASCII", what, order)}
	}
	var repairs []string
	if rest, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok {
		data = rest
		repairs = append(repairs, "removed a UTF-8 byte-order mark")
	}
	text := string(data)
	if !strings.Contains(text, "-----BEGIN ") {
		return nil, []Finding{errorf(CodePEMMalformed, "%s: no PEM block found%s", what, binaryHint(data))}
	}
	if escapedNL.MatchString(text) {
		text = escapedNL.ReplaceAllString(text, "\n")
		repairs = append(repairs, `turned literal "\n" escapes into line breaks`)
	}
	if strings.Contains(text, "\r") {
		text = strings.ReplaceAll(text, "\r\n", "\n")
		text = strings.ReplaceAll(text, "\r", "\n")
		repairs = append(repairs, "converted CRLF line endings to LF")
	}
	lines := strings.Split(text, "\n")
	trimmed := 0
	for i, l := range lines {
		if t := strings.TrimSpace(l); t != l {
			lines[i] = t
			trimmed++
		}
	}
	if trimmed > 0 {
		repairs = append(repairs, fmt.Sprintf("trimmed indentation or trailing blanks on %d lines", trimmed))
		text = strings.Join(lines, "\n")
	}

	var (
		blocks  []pemBlock
		fs      []Finding
		rebuilt []string
		pos     int
	)
	for n := 1; ; n++ {
		loc := beginRE.FindStringSubmatchIndex(text[pos:])
		if loc == nil {
			break
		}
		label := text[pos+loc[2] : pos+loc[3]]
		start := pos + loc[0]
		bodyStart := pos + loc[1]
		endMarker := "-----END " + label + "-----"
		endRel := strings.Index(text[bodyStart:], endMarker)
		if endRel < 0 {
			fs = append(fs, errorf(CodePEMMalformed, "%s: block %d (%s) has no %q line", what, n, label, endMarker))
			break
		}
		body := text[bodyStart : bodyStart+endRel]
		pos = bodyStart + endRel + len(endMarker)
		blk, err := parseBody(label, body)
		if err != nil {
			fs = append(fs, errorf(CodePEMMalformed, "%s: block %d (%s): %v", what, n, label, err))
			continue
		}
		if !wellFormed(text[start:], blk) {
			rebuilt = append(rebuilt, fmt.Sprintf("%d (%s)", n, label))
		}
		blocks = append(blocks, pemBlock{index: n, block: blk})
	}
	if len(rebuilt) > 0 {
		repairs = append(repairs, "rebuilt the line breaks of block "+strings.Join(rebuilt, ", ")+
			" (the PEM had been flattened onto one line or had spaces for newlines)")
	}
	if len(repairs) > 0 {
		fs = append([]Finding{warnf(CodePEMRepaired, "%s repaired: %s; it is used and sent as LF-only PEM",
			what, strings.Join(repairs, "; "))}, fs...)
	}
	return blocks, fs
}

// parseBody reads headers ("Proc-Type: 4,ENCRYPTED") and base64 from a block body whose line
// breaks may be missing: every run of blanks is a separator, and base64 never contains ':'.
func parseBody(label, body string) (*pem.Block, error) {
	tokens := strings.Fields(body)
	blk := &pem.Block{Type: label}
	i := 0
	for i+1 < len(tokens) && headerKey.MatchString(tokens[i]) {
		if blk.Headers == nil {
			blk.Headers = map[string]string{}
		}
		blk.Headers[strings.TrimSuffix(tokens[i], ":")] = tokens[i+1]
		i += 2
	}
	b64 := strings.Join(tokens[i:], "")
	if b64 == "" {
		return nil, fmt.Errorf("empty body")
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// The error carries only an offset, never the data.
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	blk.Bytes = der
	return blk, nil
}

// wellFormed reports whether the standard decoder, reading from the block's BEGIN line, finds
// this same block: if so its line structure was intact and nothing was rebuilt.
func wellFormed(from string, want *pem.Block) bool {
	got, _ := pem.Decode([]byte(from))
	if got == nil || got.Type != want.Type || !bytes.Equal(got.Bytes, want.Bytes) || len(got.Headers) != len(want.Headers) {
		return false
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			return false
		}
	}
	return true
}

// utf16Order names the byte order when data looks like UTF-16 text, with or without a BOM.
// Without a BOM, ASCII in UTF-16 has a NUL in every other byte: odd offsets for little-endian,
// even ones for big-endian.
func utf16Order(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return "little-endian"
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return "big-endian"
	case !bytes.Contains(data, []byte("-\x00-\x00-\x00B\x00E\x00G\x00I\x00N")):
		return ""
	}
	sample := data[:min(len(data), 256)]
	var even, odd int
	for i, c := range sample {
		if c == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	if odd >= even {
		return "little-endian"
	}
	return "big-endian"
}

func binaryHint(data []byte) string {
	if len(data) > 0 && data[0] == 0x30 {
		return " (the data is binary DER: a PFX/PKCS#12 file must be read as PFX, a DER certificate converted to PEM)"
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return " (the input is empty)"
	}
	return ""
}
