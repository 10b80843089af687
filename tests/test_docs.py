"""The documentation: relative links resolve (anchors too), the generated config reference is
current, the README links the guides, and no doc names an absolute path of this machine."""
import glob
import os
import re
from typing import Dict, Iterator, List, Tuple

import pytest

from helpers import ROOT, run_tool

DOCS = sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))) + [
    os.path.join(ROOT, 'README.md'), os.path.join(ROOT, 'dataset', 'README.md')]
NOTES = DOCS + [os.path.join(ROOT, 'tests', 'data', 'MANIFEST.md')]
CONFIG_DOC = os.path.join(ROOT, 'docs', 'config.md')
BEGIN = '<!-- BEGIN GENERATED: python tools/print_config.py --list --markdown -->'
END = '<!-- END GENERATED -->'

_FENCE = re.compile(r'^(```|~~~)')
_LINK = re.compile(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)\)')
_INLINE_CODE = re.compile(r'`+[^`]*`+')
_ABSOLUTE = re.compile(r'(?<![\w.:/~-])/(?:work|home|root|Users|mnt)/')


def prose_lines(path: str) -> Iterator[Tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks, inline code removed."""
    inside = False
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if _FENCE.match(line.strip()):
                inside = not inside
                continue
            if not inside:
                yield number, _INLINE_CODE.sub('', line)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = _LINK.sub(r'\1', heading).strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: str) -> set:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    seen: Dict[str, int] = {}
    found = set()
    inside = False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if _FENCE.match(line.strip()):
                inside = not inside
            elif not inside and re.match(r'#{1,6} ', line):
                base = slug(line.lstrip('#').strip().rstrip('#'))
                count = seen.get(base, 0)
                found.add(base if count == 0 else f'{base}-{count}')
                seen[base] = count + 1
    return found


def relative_links(path: str) -> List[Tuple[int, str]]:
    """(line, target) of the links that are not URLs."""
    links = []
    for number, line in prose_lines(path):
        for _, target in _LINK.findall(line):
            if not re.match(r'[a-z]+:', target):
                links.append((number, target))
    return links


def test_the_docs_have_links_to_check():
    assert len(DOCS) >= 9
    assert sum(len(relative_links(p)) for p in DOCS) > 30


@pytest.mark.parametrize('path', DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(path):
    broken = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition('#')
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
            if file_part else path
        if not os.path.exists(resolved):
            broken.append(f'line {number}: {target} (no {os.path.relpath(resolved, ROOT)})')
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            broken.append(f'line {number}: {target} (no heading #{anchor})')
    assert not broken, f'{os.path.relpath(path, ROOT)}: ' + '; '.join(broken)


def test_anchors_follow_github_slugs():
    assert slug('Shared keys (`__shared__`)') == 'shared-keys-__shared__'
    assert slug('The codec contract (`ppkpt.codecs`)') == 'the-codec-contract-ppkptcodecs'
    assert slug('4. The config') == '4-the-config'


def test_config_reference_matches_the_registry():
    with open(CONFIG_DOC, encoding='utf-8') as f:
        text = f.read()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    in_doc = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    generated = run_tool(['tools/print_config.py', '--list', '--markdown']).stdout.strip()
    assert '#### `TopDownHRNet`' in generated and '| `use_gt_bbox` | `bool` | `True` |' in generated
    assert in_doc == generated, (
        'docs/config.md is out of date: replace the text between its GENERATED markers with the '
        'output of `python tools/print_config.py --list --markdown`')


def test_the_readme_links_every_guide():
    links = {target for _, target in relative_links(os.path.join(ROOT, 'README.md'))}
    for guide in ('docs/getting_started.md', 'docs/custom_dataset.md', 'docs/faq.md',
                  'docs/config.md', 'dataset/README.md'):
        assert guide in links, guide


@pytest.mark.parametrize('path', NOTES, ids=lambda p: os.path.relpath(p, ROOT))
def test_docs_and_fixture_notes_name_paths_relative_to_the_repo(path):
    with open(path, encoding='utf-8') as f:
        hits = [f'line {n}: {line.strip()[:80]}' for n, line in enumerate(f, start=1)
                if _ABSOLUTE.search(line)]
    assert not hits, hits
