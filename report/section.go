package report

import "fmt"

// Section kinds: what distinguishes the members of a combined report.
const (
	SectionImage = "image" // a matrix: several images on one host
	SectionHost  = "host"  // a fleet: one configuration on several hosts
)

// Section is one member of a combined run.
type Section struct {
	Label  string  `json:"label"` // as the user named it: "sim:instant", an image reference, a host
	Kind   string  `json:"kind"`  // SectionImage or SectionHost
	Report *Report `json:"report"`
}

// Combine makes one report of several sections: the top level is the first section's report
// (so that a reader of single reports sees the baseline), Sections holds them all, and
// Comparison compares each later section with the first (opt's thresholds included). A
// comparison that cannot be made (different workflows, say) becomes a warning. sections
// must not be empty; their reports are not modified.
func Combine(sections []Section, opt CompareOptions) *Report {
	top := *sections[0].Report
	top.Sections = sections
	top.Warnings = append([]string(nil), top.Warnings...)
	if len(sections) < 2 {
		return &top
	}
	named := make([]NamedReport, len(sections))
	for i, s := range sections {
		named[i] = NamedReport{Name: s.Label, Report: s.Report}
	}
	cmp, err := CompareReports(named, opt)
	if err != nil {
		top.Warnings = append(top.Warnings, fmt.Sprintf("no comparison of the sections: %v", err))
		return &top
	}
	top.Comparison = cmp
	return &top
}

// SectionReports returns the sections of a combined report as named reports, or nil for a
// single run.
func SectionReports(r *Report) []NamedReport {
	var out []NamedReport
	for _, s := range r.Sections {
		if s.Report != nil {
			out = append(out, NamedReport{Name: s.Label, Report: s.Report})
		}
	}
	return out
}
