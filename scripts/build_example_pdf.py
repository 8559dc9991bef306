#!/usr/bin/env python3
"""Build data/corpus/earth_science/glaciers.pdf, the PDF in the example corpus.

The document text lives in the ``GLACIERS_TEXT`` constant below, so the corpus
directory holds only the finished documents. The script lays it out as a
two-page A4 PDF with fpdf2, using only the core Helvetica font.

Usage, from the repository root::

    .venv/bin/python scripts/build_example_pdf.py

Optional argument: ``--out PATH`` (default:
``data/corpus/earth_science/glaciers.pdf`` under the repository root).

The output is deterministic. The creation date is fixed, and fpdf2 derives
the file /ID from the content and that date, so every run with the same
fpdf2 version writes byte-identical files (checked with fpdf2 2.8.9; other
versions may lay out or serialise the PDF differently).

Format of ``GLACIERS_TEXT``: the first line is the title, lines starting with
``## `` are section headings, and blank lines separate paragraphs. Core fonts
can only encode latin-1, so the text is kept to plain ASCII (straight quotes,
no em dashes). The script checks this.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "corpus" / "earth_science" / "glaciers.pdf"

# Fixed so that reruns give identical bytes.
CREATION_DATE = datetime(2025, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
EXPECTED_PAGES = 2

GLACIERS_TEXT = """\
Glaciers: Rivers of Ice

## How a Glacier Forms

A glacier is a long-lasting mass of ice that forms on land and moves under its own weight. Glaciers grow where more snow falls in winter than melts in summer, year after year. Fresh snow is about 90 percent air, but as new layers pile on top, older snow is compressed into rounded grains.

Snow that survives at least one summer melt season is called firn. As burial continues, the air spaces between the grains close off into isolated bubbles and the firn becomes solid glacial ice, with a density of about 0.9 grams per cubic centimetre. This transformation can take only a few decades on snowy mountain glaciers, but a thousand years or more in the cold, dry interior of Antarctica. Thick glacial ice often looks blue because ice absorbs red light more strongly than blue light.

## Valley Glaciers, Ice Caps and Ice Sheets

Glacial ice covers about 10 percent of Earth's land area today, roughly 15 million square kilometres. Valley glaciers, also called alpine glaciers, flow down mountain valleys; the Great Aletsch Glacier in Switzerland, the largest in the Alps, is more than 20 kilometres long. Tidewater glaciers flow all the way to the sea, where blocks of ice break off as icebergs in a process called calving.

A dome of ice that buries the landscape beneath it is called an ice cap if it covers less than 50,000 square kilometres and an ice sheet if it is larger. Only two ice sheets exist today. The Antarctic Ice Sheet covers about 14 million square kilometres, is more than 4.5 kilometres thick in places, and holds enough water to raise global sea level by about 58 metres if it all melted. The Greenland Ice Sheet covers about 1.7 million square kilometres and holds the equivalent of about 7.4 metres of sea level.

## How Glaciers Move

Glaciers move in two main ways. In internal deformation, the weight of the ice makes individual ice crystals slip and shear, so the ice flows like a very stiff plastic; this happens once ice is more than about 50 metres thick. In basal sliding, the glacier slides over its bed on a film of meltwater. The brittle upper 50 metres or so cannot flow, so it cracks into crevasses.

Most glaciers move a few centimetres to a few metres per day. Sermeq Kujalleq in Greenland, also known as Jakobshavn Isbrae, is one of the fastest, and in 2012 its front flowed at more than 17 kilometres per year. Some glaciers surge, suddenly speeding up for months or years; in 1953 the Kutiah Glacier in Pakistan advanced more than 12 kilometres in about three months.

A glacier gains mass in its upper accumulation zone and loses it by melting, evaporation and calving in its lower ablation zone. The boundary between them is called the equilibrium line. A retreating glacier still flows downhill; its front retreats because melting outpaces the flow.

## Landscapes Carved by Ice

Moving ice erodes its bed by plucking, freezing onto blocks of rock and pulling them away, and by abrasion, in which rock fragments in its base scrape the bedrock and leave scratches called striations. Glaciers reshape V-shaped river valleys into wide U-shaped troughs. At the heads of valleys they carve bowl-shaped hollows called cirques, and where cirques cut into a peak from several sides they leave a pointed horn such as the Matterhorn, 4,478 metres high. Sharp, knife-edged ridges between neighbouring glaciers are called aretes.

Coastal glacial valleys flooded by the sea become fjords. Norway's Sognefjord stretches about 205 kilometres inland and reaches a depth of 1,308 metres. Glaciers also leave unsorted sediment called till, which piles up into ridges called moraines. Rivers flowing in tunnels under the ice lay down winding gravel ridges called eskers, and boulders carried far from their source are called erratics.

## Ice Ages and Shrinking Glaciers

During the Last Glacial Maximum, about 20,000 years ago, ice covered roughly a quarter of Earth's land. The Laurentide Ice Sheet buried most of Canada and the northern United States under ice up to about 3 kilometres thick, and so much water was locked up on land that sea level was around 120 metres lower than today.

Glaciers also preserve records of past climate. The EPICA ice core drilled at Dome C in Antarctica contains ice about 800,000 years old, and air bubbles trapped in it record carbon dioxide levels through eight glacial cycles. Today most of the world's glaciers are shrinking. Glacier National Park in Montana had an estimated 150 glaciers in 1850, but by 2015 only 26 were still large enough to count as active glaciers.
"""


def parse(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split the source into a title and (kind, text) blocks: "h" or "p"."""
    lines = text.strip().splitlines()
    title = lines[0].strip()
    blocks: list[tuple[str, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            blocks.append(("h", line[3:].strip()))
        else:
            para.append(line)
    flush()
    return title, blocks


def build(out: Path) -> int:
    if not GLACIERS_TEXT.isascii():
        bad = sorted({c for c in GLACIERS_TEXT if not c.isascii()})
        raise SystemExit(f"GLACIERS_TEXT must be plain ASCII; found {bad!r}")
    title, blocks = parse(GLACIERS_TEXT)

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_title(title)
    pdf.set_author("synthloom contributors")
    pdf.set_subject("Example earth-science document (CC0-1.0)")
    pdf.set_creator("scripts/build_example_pdf.py")
    pdf.set_margins(left=22, top=20, right=22)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()

    pdf.set_font("Helvetica", style="B", size=18)
    pdf.multi_cell(0, 9, title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    for kind, text in blocks:
        if kind == "h":
            pdf.ln(2)
            pdf.set_font("Helvetica", style="B", size=13)
            pdf.multi_cell(0, 7, text, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            pdf.set_font("Helvetica", size=10.5)
            pdf.multi_cell(0, 5.4, text, align="J", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.2)

    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return pdf.pages_count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output PDF path")
    args = ap.parse_args()
    pages = build(args.out)
    if pages != EXPECTED_PAGES:
        raise SystemExit(f"{args.out}: expected {EXPECTED_PAGES} pages, got {pages}")
    print(f"wrote {args.out} ({pages} pages)")


if __name__ == "__main__":
    main()
