"""Real training on real data: data sets, objectives, the loop, the report and the T-claims."""
