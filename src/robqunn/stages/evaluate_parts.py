"""Job evaluate_parts (workflow.jobs per_eps): a seed's results table from its parts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from robqunn.stages.evaluate import save_results


def run(parts: list[str | Path], table_csv: str | Path) -> pd.DataFrame:
    """``workflow.jobs: per_eps``: the seed's table from its parts (robqunn.stages.evaluate_part), the same as
    robqunn.stages.evaluate writes (the worst case and the attack gaps need every part: computed here)."""
    import pandas as pd

    rows = [row for part in parts for row in pd.read_parquet(part).to_dict("records")]
    return save_results(rows, table_csv)
