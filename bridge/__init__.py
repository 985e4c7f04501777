"""mechbridge core: tasks, models, training, runs, trackers, stages, theory, match, report."""
