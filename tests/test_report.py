"""The report's readable tables and the offline DVC plots template (robqunn.report)."""

from __future__ import annotations

import pandas as pd

from robqunn import paths, report


def test_a_table_page_has_its_caption_and_coloured_verdicts():
    frame = pd.DataFrame({"check": ["a", "b"], "verdict": ["FLAG", "PASS"], "value": [0.123456, float("nan")]})
    page = report.html_table(frame, "checklist", "checklist: what a <FLAG> means")
    assert "<caption>checklist: what a &lt;FLAG&gt; means</caption>" in page  # escaped, inside the table
    assert page.index("<table") < page.index("<caption>") < page.index("<thead>")
    assert '<td style="background:#fdd">FLAG</td>' in page and '<td style="background:#dfd">PASS</td>' in page
    assert "<td>0.1235</td>" in page  # four significant digits
    assert "nan" not in page.lower().replace("dataframe", "")


def test_every_report_table_has_a_caption_and_is_written(tmp_path):
    assert set(report.CAPTIONS) == set(paths.STUDY_REPORT_TABLES)
    frames = {name: pd.DataFrame({"x": [1]}) for name in paths.STUDY_REPORT_TABLES} | {"results": pd.DataFrame()}
    written = report.write_html_tables(frames, tmp_path, paths.STUDY_HTML_NAME)
    assert [p.name for p in written] == [f"{name}.html" for name in paths.STUDY_REPORT_TABLES]


def test_the_offline_plots_template_holds_vega_and_no_network_link():
    """Vega, Vega-Lite and Vega-Embed inline, DVC's placeholder for the plots, and neither a script from the
    network nor DVC's {scripts} placeholder (which would bring the CDN links back)."""
    template = report.offline_plots_template()
    assert template.count("{plot_divs}") == 1 and "{scripts}" not in template
    assert template.count("<script>") == 3 and "<script src" not in template
    assert "vegaEmbed" in template and len(template) > 1_000_000
