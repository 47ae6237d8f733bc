"""The report's tables and lists with a row per scenario (results, test quality, what works), in
Markdown and in HTML, formatted here rather than in the templates: at 10,000 scenarios Jinja's
cost per row was most of the report's. Each field is escaped exactly as the templates escape
theirs (report.md: the `cell` filter, or as prose; report.html: autoescape), each distinct text
once; the templates keep the headings and the tables' heads around them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from .escape import md_cell, md_field
from .model import ScenarioResult, scenario_anchor
from .view import STATUS_MARK, scenario_duration


def _priority(scenario: ScenarioResult) -> str:
    return "P%d" % scenario.priority if scenario.priority else "–"  # noqa: UP031 - as the templates


def _memo(convert: Callable[[object], object]) -> Callable[[str], str]:
    """`convert`, as the template shows it (str), remembered per text."""
    seen: dict[str, str] = {}

    def shown(text: str) -> str:
        found = seen.get(text)
        if found is None:
            found = seen[text] = str(convert(text))
        return found
    return shown


def _html(value: object) -> str:
    """A number or a text as report.html's autoescape shows it."""
    return str(value) if value.__class__ is int else str(escape(value))


class ScenarioRows:
    """The rows of one report, each table formatted when a template asks for it."""

    def __init__(self, scenarios: Sequence[ScenarioResult], works: Sequence[ScenarioResult]
                 ) -> None:
        self.scenarios, self.works = scenarios, works
        self._cell, self._prose, self._escaped = _memo(md_cell), _memo(md_field), _memo(escape)
        self._durations: dict[int, str] = {}

    def _duration(self, scenario: ScenarioResult) -> str:
        found = self._durations.get(id(scenario))
        if found is None:
            found = self._durations[id(scenario)] = scenario_duration(scenario)
        return found

    def md_results(self) -> Markup:
        """md/_results.md.j2: | Scenario | Feature | Priority | Status | Duration | Key finding |"""
        cell, prose = self._cell, self._prose
        return Markup("".join(
            f"| {cell(s.name)} | {cell(s.feature)} | {prose(_priority(s))} | "
            f"{prose(STATUS_MARK[s.status])} | {prose(self._duration(s))} | "
            f"{cell(s.key_finding)} |\n" for s in self.scenarios))

    def md_quality(self) -> Markup:
        """md/_quality.md.j2: | Scenario | Exchanges with the target | Checks | Duration |"""
        cell, prose = self._cell, self._prose
        return Markup("".join(
            f"| {cell(s.name)} | {len(s.exchanges)} | {md_field(s.assertions)} | "
            f"{prose(self._duration(s))} |\n" for s in self.scenarios))

    def md_works(self) -> Markup:
        """md/_summary.md.j2, What works: one line per passed scenario."""
        cell = self._cell
        return Markup("".join(f"- ✅ {cell(s.name)}: {cell(s.key_finding)}\n" for s in self.works))

    def html_results(self, catalog_url: str) -> Markup:
        """html/_results.html.j2: a row per scenario, its name linked to the catalog if any."""
        esc = self._escaped
        url = _html(catalog_url)

        def name(s: ScenarioResult) -> str:
            if not catalog_url:
                return esc(s.name)
            return (f'<a href="{url}#{esc(scenario_anchor(s.feature, s.name))}" '
                    f'title="its entry in the catalog">{esc(s.name)}</a>')
        return Markup("".join(
            f'      <tr><td class="scenario">{name(s)}</td><td data-label="Feature">'
            f'{esc(s.feature)}</td><td data-label="Priority">{esc(_priority(s))}</td>\n'
            f'        <td data-label="Status" class="{esc(s.status)}">'
            f'{esc(STATUS_MARK[s.status])}</td><td data-label="Duration">'
            f'{esc(self._duration(s))}</td><td data-label="Key finding" class="key-finding">'
            f'{esc(s.key_finding)}</td></tr>\n' for s in self.scenarios))

    def html_quality(self) -> Markup:
        """html/_quality.html.j2: a row per scenario."""
        esc = self._escaped
        return Markup("".join(
            f'<tr><td class="row-title">{esc(s.name)}</td><td data-label="Exchanges with the '
            f'target">{len(s.exchanges)}</td><td data-label="Checks">{_html(s.assertions)}</td>'
            f'<td data-label="Duration">{esc(self._duration(s))}</td></tr>'
            for s in self.scenarios))

    def html_works(self) -> Markup:
        """html/_summary.html.j2, What works: one item per passed scenario."""
        esc = self._escaped
        return Markup("".join(f'<li><span class="passed">PASS</span> {esc(s.name)}: '
                              f'{esc(s.key_finding)}</li>' for s in self.works))
