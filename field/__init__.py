"""The field trial (make field), one module per stage: fetch (environments and
downloads), build (the sdists), judge (ground truth and the gate's verdicts), render
(docs/field-trial.md); common holds what they share, mutants the mutated wheels, and
run.py runs them in order."""
