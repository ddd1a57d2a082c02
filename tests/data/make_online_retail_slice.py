"""Cut ``online_retail_slice.csv.gz`` from the full UCI Online Retail file, deterministically.

    .venv/bin/python tests/data/make_online_retail_slice.py \
        [/work/shared/datasets/online_retail/online_retail.csv.gz] [--out tests/data/...]

The slice keeps the original header and copies the selected data lines byte for byte, in
their original order (the file has no quoted line breaks, so one line is one row). It holds:

1. every row of 60 customers drawn with a fixed seed among customers with 20-150 rows
   (real purchase histories across the year, with their own cancellations);
2. the 3 adjustment rows (InvoiceNo ``A…``);
3. for every non-product stock code (``POST``, ``DOT``, ``M``, ``DCGS…``, ``gift_…``, ``23444``
   "Next Day Carriage", …), its first 2 sale rows and its first cancellation row;
4. rows without a CustomerID: the first 4 invoices of 5-40 lines, plus the first 25 lines with
   Quantity <= 0 (stock write-offs such as "damaged") and the first 15 with UnitPrice 0;
5. every line with a CustomerID, a positive Quantity and UnitPrice 0 (33 on the full file);
6. the first 3 rows of 3 lower-case product codes (``15056bl`` …) and of their upper-case twins
   (on the full file, lower-case codes occur only on lines without a CustomerID);
7. every row of 3 codes that carry several descriptions on purchase lines, one of them clearly
   the most frequent (for the item-title rule).

Re-running it on the published file gives the same rows, and with the same zlib a byte-identical
file (gzip with mtime 0, no name).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SOURCE = Path("/work/shared/datasets/online_retail/online_retail.csv.gz")
DEFAULT_OUT = Path(__file__).with_name("online_retail_slice.csv.gz")
SEED = 352
DTYPES = {"InvoiceNo": str, "StockCode": str, "CustomerID": str, "Description": str}
PRODUCT_CODE = r"^[0-9]{5}[A-Z]*$"
CHARGE_CODES = ("23444", "23702")


def first(mask: pd.Series, n: int) -> list[int]:
    return mask[mask].index[:n].tolist()


def select_rows(df: pd.DataFrame) -> list[int]:
    code = df["StockCode"].str.strip().str.upper()
    invoice = df["InvoiceNo"].str.strip().str.upper()
    has_customer = df["CustomerID"].notna()
    is_product = code.str.match(PRODUCT_CODE).fillna(False) & ~code.isin(CHARGE_CODES)
    sale = ~invoice.str.startswith(("C", "A"))
    chosen: set[int] = set()

    # 1. whole histories of seeded random customers
    per_customer = df.loc[has_customer, "CustomerID"].value_counts().sort_index()
    eligible = per_customer[(per_customer >= 20) & (per_customer <= 150)].index.to_numpy()
    rng = np.random.default_rng(SEED)
    customers = rng.choice(eligible, size=60, replace=False)
    chosen |= set(df.index[df["CustomerID"].isin(customers)])

    # 2. adjustments
    chosen |= set(df.index[invoice.str.startswith("A")])

    # 3. non-product codes
    for on_sale, n in ((True, 2), (False, 1)):
        rows = df.index[~is_product & (sale == on_sale)]
        chosen |= set(pd.Series(rows, index=rows).groupby(code[rows]).head(n))

    # 4. rows without a customer
    guest = df[~has_customer & sale]
    lines = guest.groupby("InvoiceNo", sort=False).size()
    for inv in lines[(lines >= 5) & (lines <= 40)].index[:4]:
        chosen |= set(guest.index[guest["InvoiceNo"] == inv])
    chosen |= set(first(~has_customer & sale & is_product & (df["Quantity"] <= 0), 25))
    chosen |= set(first(~has_customer & sale & is_product & (df["UnitPrice"] == 0), 15))

    # 5. zero prices on otherwise good purchase lines
    good = has_customer & sale & is_product & (df["Quantity"] > 0)
    chosen |= set(df.index[good & (df["UnitPrice"] <= 0)])

    # 6. lower-case stock codes and their upper-case twins
    lower = df["StockCode"] != df["StockCode"].str.upper()
    lower_codes = sorted(df.loc[lower & sale & is_product, "StockCode"].unique())[:3]
    for c in lower_codes:
        chosen |= set(first(df["StockCode"] == c, 3))
        chosen |= set(first(df["StockCode"] == c.upper(), 3))

    # 7. codes with several descriptions on purchase lines, one clearly most frequent
    kept = good & (df["UnitPrice"] > 0)
    desc = df.loc[kept, "Description"].str.strip().str.replace(r"\s+", " ", regex=True)
    counts = desc.groupby(code[kept]).value_counts()
    n_desc = counts.groupby(level=0).size()
    total = counts.groupby(level=0).sum()
    top = counts.groupby(level=0).nth(0).droplevel(1)
    second = counts.groupby(level=0).nth(1).droplevel(1)
    ok = (n_desc >= 2) & total.between(20, 150) & (top >= 2 * second.reindex(top.index))
    for c in sorted(ok[ok].index)[:3]:
        chosen |= set(df.index[code == c])

    return sorted(int(i) for i in chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    df = pd.read_csv(args.source, dtype=DTYPES)
    opener = gzip.open if args.source.name.endswith(".gz") else open
    with opener(args.source, "rb") as fh:
        lines = fh.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != len(df) + 1:
        raise SystemExit("the source has quoted line breaks; cannot copy lines one per row")

    rows = select_rows(df)
    body = b"".join(lines[i + 1] + b"\n" for i in rows)
    payload = lines[0] + b"\n" + body
    with open(args.out, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as fh:
        fh.write(payload)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {len(rows)} rows of {len(df)}, sha256 {digest}")


if __name__ == "__main__":
    main()
