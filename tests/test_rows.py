"""The rows per scenario that Python formats for the reports (report/rows.py) say, byte for byte,
what the templates' own loops said before them, hostile text included; and a run's end pauses
the garbage collector only while it lasts."""

from __future__ import annotations

import gc

import pytest

from stagecheck.gate.conclude import collection_paused
from stagecheck.report.model import ScenarioResult
from stagecheck.report.render import environment
from stagecheck.report.rows import ScenarioRows
from stagecheck.report.view import STATUS_MARK, scenario_duration
from stagecheck.vocabulary import Status

# The loops the templates held, verbatim (report.md is not autoescaped, report.html is).
MD_LOOPS = {
    "md_results": """{% for s in scenarios %}
| {{ s.name | cell }} | {{ s.feature | cell }} | {{ "P%d" % s.priority if s.priority else "–" }} | {{ mark[s.status] }} | {{ scenario_duration(s) }} | {{ s.key_finding | cell }} |
{% endfor %}""",  # noqa: E501
    "md_quality": """{% for s in scenarios %}
| {{ s.name | cell }} | {{ s.exchanges | length }} | {{ s.assertions }} | {{ scenario_duration(s) }} |
{% endfor %}""",
    "md_works": """{% for s in works %}
- ✅ {{ s.name | cell }}: {{ s.key_finding | cell }}
{% endfor %}""",
}
HTML_LOOPS = {
    "html_results": """    {% for s in scenarios %}
      <tr><td class="scenario">{% if catalog_url %}<a href="{{ catalog_url }}#{{ scenario_anchor(s.feature, s.name) }}" title="its entry in the catalog">{{ s.name }}</a>{% else %}{{ s.name }}{% endif %}</td><td data-label="Feature">{{ s.feature }}</td><td data-label="Priority">{{ "P%d" % s.priority if s.priority else "–" }}</td>
        <td data-label="Status" class="{{ s.status }}">{{ mark[s.status] }}</td><td data-label="Duration">{{ scenario_duration(s) }}</td><td data-label="Key finding" class="key-finding">{{ s.key_finding }}</td></tr>
    {% endfor %}
""",  # noqa: E501
    "html_quality": """{% for s in scenarios %}<tr><td class="row-title">{{ s.name }}</td><td data-label="Exchanges with the target">{{ s.exchanges | length }}</td><td data-label="Checks">{{ s.assertions }}</td><td data-label="Duration">{{ scenario_duration(s) }}</td></tr>{% endfor %}""",  # noqa: E501
    "html_works": """{% for s in works %}<li><span class="passed">PASS</span> {{ s.name }}: {{ s.key_finding }}</li>{% endfor %}""",  # noqa: E501
}
HOSTILE = ["a | b", "`code` and ``more``", "<script>alert('x')</script>", "{{ 7*7 }} {% x %}",
           "line one\n  line two\r\n", "tab\there \x1b[31mred\x1b[0m \u202eevil", "A & B \"q\" 'q'",
           "café → ünïcode ✅", "", "   ", "\\|escaped pipe", "*em* _em_ [link](http://x)"]


def scenarios() -> list[ScenarioResult]:
    found = []
    for i, text in enumerate(HOSTILE):
        for status in Status:
            found.append(ScenarioResult(
                name=f"{text} {i}", feature=f"Feature {text}", location=f"f.feature:{i}", tags=[],
                priority=[None, 0, 1, 6][i % 4], revenue=None, area="", status=status,
                duration_s=[0.0, 0.0004, 0.042, 1.5, 12.25][i % 5],
                exchanges=[{"url": "x"}] * (i % 3), assertions=i, key_finding=f"found: {text}"))
    return found


@pytest.mark.parametrize("catalog_url", ["", "../catalog.html?a=1&b=<2>"])
def test_the_rows_say_what_the_template_loops_said(catalog_url: str) -> None:
    every = scenarios()
    works = [s for s in every if s.status == Status.PASSED]
    rows = ScenarioRows(every, works)
    shown = {"scenarios": every, "works": works, "mark": STATUS_MARK, "catalog_url": catalog_url,
             "scenario_duration": scenario_duration}
    env = environment()
    for name, loop in MD_LOOPS.items():
        want = env.from_string("{% autoescape false %}\n" + loop + "{% endautoescape %}").render(shown)
        assert str(getattr(rows, name)()) == want, name
    for name, loop in HTML_LOOPS.items():
        want = env.from_string("{% autoescape true %}\n" + loop + "{% endautoescape %}").render(shown)
        got = rows.html_results(catalog_url) if name == "html_results" else getattr(rows, name)()
        assert str(got) == want, name
    assert "<script>" not in str(rows.html_results(catalog_url))
    assert "a \\| b" in str(rows.md_results())


def test_a_runs_end_pauses_the_garbage_collector_and_gives_it_back_as_it_was() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with collection_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # one that was off stays off
        gc.enable()
        with pytest.raises(RuntimeError), collection_paused():
            raise RuntimeError("the report could not be built")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
