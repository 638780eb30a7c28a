"""README.ko.md is README.md in Korean: the same sections, commands, figures and links; and both
say only what is true (settings, error messages, files, the holdout figure)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from benchmarks import bench_model
from container.hyperparameters import HyperparameterError, parse
from services import dataset
from services.docker_cli import DAEMON_DOWN
from services.settings import Settings

REPO = Path(__file__).resolve().parents[2]
READMES = {"en": REPO / "README.md", "ko": REPO / "README.ko.md"}
TEXT = {lang: path.read_text(encoding="utf-8") for lang, path in READMES.items()}
FENCE = re.compile(r"^( *)```[a-z]*\n(.*?)^\1```", flags=re.DOTALL | re.MULTILINE)
# Messages a third party prints (the kernel, the dynamic loader, AWS), quoted as users see them.
THIRD_PARTY_MESSAGES = {
    "exec format error",  # the kernel, running an arm64/amd64 binary on the other architecture
    "libgomp.so.1: cannot open shared object file",  # the dynamic loader, importing LightGBM
    "AccessDenied",  # AWS's error code
    "pip",  # a tool named in the symptom, not a message
    "docker build",  # likewise
}


def blocks(text: str) -> list[str]:
    """Each fenced block with its comments removed, so the twin may comment in Korean."""
    cleaned = []
    for _, body in FENCE.findall(text):
        lines = [re.sub(r"\s+#\s.*$", "", line).rstrip() for line in body.splitlines() if line.strip()]
        if all(re.match(r"^[\w./-]+/?\s{2,}\S", line) for line in lines):
            lines = [line.split()[0] for line in lines]  # a layout tree: the paths, not their notes
        cleaned.append("\n".join(lines))
    return cleaned


def prose(text: str) -> str:
    return FENCE.sub("", text)


def figures(text: str) -> list[str]:
    """Every number outside the code blocks (measured figures, prices, counts), in order."""
    return re.findall(r"\d+(?:\.\d+)?", prose(text))


def test_the_same_sections_in_the_same_order() -> None:
    def headings(text: str) -> list[str]:
        return re.findall(r"^(#{1,3}) ", prose(text), flags=re.MULTILINE)

    assert headings(TEXT["ko"]) == headings(TEXT["en"])
    assert len(headings(TEXT["en"])) >= 10


def test_the_same_commands() -> None:
    assert blocks(TEXT["ko"]) == blocks(TEXT["en"])


def test_the_same_figures() -> None:
    assert sorted(figures(TEXT["ko"])) == sorted(figures(TEXT["en"]))


def test_the_same_links_and_images_and_all_exist() -> None:
    def links(text: str) -> list[str]:
        return re.findall(r"\]\(([^)\s]+)\)", text)

    twins = {"README.md", "README.ko.md"}  # each links to the other
    assert sorted(set(links(TEXT["ko"])) - twins) == sorted(set(links(TEXT["en"])) - twins)
    for target in links(TEXT["en"]):
        if not target.startswith(("http://", "https://", "#")):
            assert (REPO / target.split("#", 1)[0]).exists(), target


def test_the_korean_twin_is_korean() -> None:
    hangul = len(re.findall("[가-힣]", prose(TEXT["ko"])))
    assert hangul > 2000, hangul


@pytest.mark.parametrize("lang", list(READMES))
def test_every_setting_is_listed(lang: str) -> None:
    listed = set(re.findall(r"`([A-Z_]+)`", TEXT[lang]))
    missing = [f.name.upper() for f in fields(Settings) if f.name.upper() not in listed]
    assert not missing, f"README ({lang}) does not list TITANIC_SM_ settings {missing}"


def our_messages() -> list[str]:
    try:
        parse({"num_leaf": "7"})
    except HyperparameterError as exc:
        misspelt = str(exc)
    return [DAEMON_DOWN, misspelt]


@pytest.mark.parametrize("lang", list(READMES))
def test_quoted_error_messages_are_what_the_code_prints(lang: str) -> None:
    sections = re.split(r"^## ", TEXT[lang], flags=re.MULTILINE)
    section = next(s for s in sections if "(docs/troubleshooting.md)" in s and "|---|---|" in s)
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    quoted = [q for line in rows[1:] for q in re.findall(r"`([^`]+)`", line.split(" | ")[0])]
    assert quoted
    produced = our_messages()
    for message in quoted:
        if message in THIRD_PARTY_MESSAGES:
            continue
        stem = message.split("...")[0].rstrip(", ")
        assert any(p.startswith(stem) for p in produced), (
            f"README quotes {message!r}; the code prints {produced}"
        )


@pytest.mark.parametrize("lang", list(READMES))
def test_the_cli_examples_name_files_the_project_writes(lang: str) -> None:
    written = {Settings().data_dir / dataset.TRAIN_FILE, Settings().data_dir / dataset.VALIDATION_FILE}
    commands = [line for block in blocks(TEXT[lang]) for line in block.splitlines()]
    named = [Path(m) for line in commands for m in re.findall(r"--(?:input|train|validation) (\S+)", line)]
    assert named, "the CLI reference shows no input file"
    for path in named:
        assert path in written, f"README names {path}, which neither ships nor comes from data prepare"


def test_no_shipped_data_file_cites_a_missing_path() -> None:
    # The dashboard shows these sources verbatim (and so do the screenshots of it).
    for data_file in sorted((REPO / "services" / "data").glob("*.json")):
        for cited in re.findall(r"\b(docs/[\w./-]+)", data_file.read_text(encoding="utf-8")):
            assert (REPO / cited.rstrip(".")).exists(), (
                f"{data_file.name} cites {cited}, which does not exist"
            )


def test_the_holdout_figure_is_what_bench_model_measures() -> None:
    held = bench_model.holdout(dataset.load_source())
    for lang, text in TEXT.items():
        paragraph = next(p for p in text.split("\n\n") if "80/20" in p)
        assert f"{held['accuracy']:.3f}" in paragraph and f"{held['roc_auc']:.3f}" in paragraph, lang
        assert f"{held['rows']:.0f}" in paragraph, lang
    assert "make bench-model" in TEXT["en"].split("80/20")[0].rsplit("###", 1)[-1]
