from rich.console import Console

from broker.pipelines.graph import parse_pipeline
from broker.pipelines.records import PipelineStatus, StepRun
from broker.pipelines.state import PipelineRecord
from broker.pipelines.tree import pipeline_tree


def test_the_tree_shows_each_round_with_tier_provider_attempts_and_cost() -> None:
    spec = parse_pipeline(
        {
            "steps": {
                "answer": {"tier": "fast", "prompt": "x"},
                "check": {"tier": "fast", "validates": "answer", "prompt": "y"},
            }
        }
    )
    runs = {
        "answer": [
            StepRun(
                step="answer",
                round=0,
                status="succeeded",
                job_id="p.answer.0",
                tier="fast",
                provider="alpha",
                model="a1",
                attempts=2,
                cost_usd=0.000123,
            ),
        ],
        "check": [
            StepRun(step="check", round=0, status="queued", job_id="p.check.0", tier="fast"),
        ],
    }
    record = PipelineRecord("p", "default", PipelineStatus.RUNNING, spec, {}, 0.0, runs, None, {})
    console = Console(width=200, record=True)
    console.print(pipeline_tree(record))
    text = console.export_text()
    assert "pipeline p [running] $0.000123" in text
    assert "round 0 · succeeded · tier fast · alpha/a1 · attempts 2 · $0.000123" in text
    assert "check validates answer" in text and "round 0 · queued" in text
