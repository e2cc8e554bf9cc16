package lab

// PlanInfo is what a dry run (up-and-bench --dry-run) shows of the plan a run would make,
// computed as the run computes it and without starting anything.
type PlanInfo struct {
	// SeedInput is NODE.INPUT the seeds go to; "" when the workflow has no seed input.
	SeedInput string
	// Vary is --vary's NODE.INPUT, "" without it.
	Vary string
	// Models are the model files the scenario needs in --models.
	Models []string
}

// DescribePlan parses the scenario's (or --workflow's) graph as a run would (see
// [CheckPlan]) and says where its seeds go and which models it needs.
func DescribePlan(cfg Config) (PlanInfo, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return PlanInfo{}, userPlanError(cfg, err) // nil: an embedded scenario the run itself refuses
	}
	info := PlanInfo{Models: p.models}
	if p.seed.Node != "" {
		info.SeedInput = p.seed.Node + "." + p.seed.Input
	}
	if p.vary != nil {
		info.Vary = p.vary.Node + "." + p.vary.Input
	}
	return info, nil
}

// CheckModels checks --models as a run does before it creates its container: the folder
// exists and holds the files the plan needs (PlanInfo.Models). It returns the folder's
// absolute path and the files' total size; without --models it returns "" and no error.
func CheckModels(cfg Config, info PlanInfo) (string, uint64, error) {
	if cfg.ModelsDir == "" {
		return "", 0, nil
	}
	return checkModels(cfg.ModelsDir, info.Models, cfg.Scenario.Name)
}

// PromptSeeds are the seeds one container run of cfg sends, in order (runPrompt: the
// run's prompt i gets cfg.Seed+i): each cold start's first prompt, then the warm-ups, then
// the measured runs.
type PromptSeeds struct {
	Cold       []uint64 // the first prompt of cold start i
	WarmupFrom uint64   // the first warm-up's; the others follow (cfg.Warmup in all)
	RunsFrom   uint64   // the first measured run's; the others follow (cfg.Runs in all)
}

// PlanSeeds returns the seeds a run of cfg ([UpAndBench]) sends. A matrix runs each of its
// containers as a run with one cold start (see [Matrix]).
func PlanSeeds(cfg Config) PromptSeeds {
	n := uint64(max(cfg.ColdStarts, 1))
	var s PromptSeeds
	for i := range n {
		s.Cold = append(s.Cold, cfg.Seed+i)
	}
	s.WarmupFrom = cfg.Seed + n
	s.RunsFrom = s.WarmupFrom + uint64(max(cfg.Warmup, 0))
	return s
}
