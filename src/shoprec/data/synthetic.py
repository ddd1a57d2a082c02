"""The built-in synthetic shop: a deterministic, seeded stand-in for a real event log.

``generate_shop`` returns canonical ``events`` and ``items`` tables (DESIGN.md, data contracts)
with the structure that real shop logs have, so that models are tested on something they can
learn from:

- a catalogue of 8 top-level categories with 4–6 subcategories each (``"Shoes/Running"``), brands
  tied to a few top-level categories, prices log-normal per subcategory and brand tier, and
  Zipf-like item popularity;
- items released over the period (about 18% after day 0; no event precedes an item's release)
  and a few discontinued before the end (``available`` is false for those);
- users with taste concentrated on a few subcategories, favourite brands, a price level and a
  heavy-tailed activity level; about 70% active from day 0, the rest joining later;
- sessions with a weekly and daily rhythm, each focused on a subcategory from the user's taste,
  sometimes with views in a complementary one (running shoes and sports socks), a
  view → add-to-cart → purchase funnel, and replenishment purchases of consumables.

Taste does not drift, so the past predicts the future: item-to-item collaborative filtering
beats most-popular by a wide margin on a temporal split.

Only ``numpy.random.default_rng(seed)`` is used, and every draw happens in a fixed order, so the
same arguments always give identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shoprec.data.schema import to_canonical_events, to_canonical_items
from shoprec.errors import ConfigError

__all__ = [
    "CATEGORY_TREE",
    "MIN_DAYS",
    "MIN_ITEMS",
    "MIN_USERS",
    "generate_shop",
    "item_lifecycle",
]

MIN_USERS = 10
MIN_ITEMS = 20
MIN_DAYS = 7
_MAX_SIZE = 10_000_000
_MAX_DAYS = 3660

_DAY = 86_400
VIEW, ADDTOCART, PURCHASE = 0, 1, 2
_EVENT_NAMES = np.array(["view", "addtocart", "purchase"], dtype=object)


@dataclass(frozen=True)
class _Sub:
    """One subcategory: title nouns, median price, and replenishment interval (consumables)."""

    name: str
    nouns: tuple[str, ...]
    median_price: float
    refill_days: float = 0.0  # > 0: a consumable, bought again after about this many days


# top-level category -> subcategories
CATEGORY_TREE: dict[str, tuple[_Sub, ...]] = {
    "Shoes": (
        _Sub("Running", ("Running Shoe", "Trail Running Shoe", "Racing Flat"), 110),
        _Sub("Hiking", ("Hiking Boot", "Trail Boot", "Approach Shoe"), 140),
        _Sub("Sneakers", ("Sneaker", "Low-Top Sneaker", "High-Top Sneaker"), 80),
        _Sub("Formal", ("Oxford Shoe", "Loafer", "Derby Shoe"), 120),
        _Sub("Sandals", ("Sandal", "Slide", "Flip-Flop"), 40),
    ),
    "Clothing": (
        _Sub("T-Shirts", ("T-Shirt", "Crew Neck Tee", "Polo Shirt"), 22),
        _Sub("Jackets", ("Rain Jacket", "Parka", "Windbreaker"), 120),
        _Sub("Jeans", ("Slim Jeans", "Straight Jeans", "Chinos"), 60),
        _Sub("Dresses", ("Midi Dress", "Wrap Dress", "Shirt Dress"), 70),
        _Sub("Knitwear", ("Sweater", "Cardigan", "Hoodie"), 55),
        _Sub("Underwear", ("Boxer Briefs 3-Pack", "Briefs 5-Pack", "Sports Bra"), 25, 35),
    ),
    "Sports": (
        _Sub("Socks", ("Running Socks", "Hiking Socks", "Sports Socks 3-Pack"), 12, 30),
        _Sub("Fitness", ("Yoga Mat", "Dumbbell Set", "Resistance Band"), 35),
        _Sub("Cycling", ("Cycling Helmet", "Bike Light", "Cycling Jersey"), 60),
        _Sub("Swimming", ("Swimsuit", "Swim Goggles", "Swim Cap"), 30),
        _Sub("Nutrition", ("Protein Powder", "Energy Bar Box", "Electrolyte Tabs"), 30, 18),
    ),
    "Electronics": (
        _Sub("Headphones", ("Headphones", "Wireless Earbuds", "Noise-Cancelling Headset"), 90),
        _Sub("Phones", ("Smartphone", "Phone", "Rugged Phone"), 450),
        _Sub("Accessories", ("USB-C Charger", "Charging Cable", "Phone Case"), 20),
        _Sub("Wearables", ("Smartwatch", "Fitness Tracker", "Sport Watch"), 180),
        _Sub("Speakers", ("Bluetooth Speaker", "Smart Speaker", "Soundbar"), 80),
    ),
    "Home": (
        _Sub("Kitchen", ("Frying Pan", "Chef Knife", "Saucepan"), 45),
        _Sub("Bedding", ("Duvet Cover", "Pillow", "Sheet Set"), 50),
        _Sub("Lighting", ("Desk Lamp", "Floor Lamp", "LED Bulb Set"), 40),
        _Sub("Decor", ("Vase", "Picture Frame", "Scented Candle"), 25),
        _Sub("Cleaning", ("Dish Soap", "Laundry Detergent", "Sponge Pack"), 8, 16),
    ),
    "Beauty": (
        _Sub("Skincare", ("Face Cream", "Serum", "Cleanser"), 25, 24),
        _Sub("Haircare", ("Shampoo", "Conditioner", "Hair Mask"), 12, 20),
        _Sub("Fragrance", ("Eau de Parfum", "Eau de Toilette", "Body Mist"), 60),
        _Sub("Makeup", ("Mascara", "Lipstick", "Foundation"), 18, 30),
    ),
    "Grocery": (
        _Sub("Coffee", ("Coffee Beans", "Ground Coffee", "Espresso Capsules"), 12, 10),
        _Sub("Tea", ("Green Tea", "Black Tea", "Herbal Tea"), 7, 14),
        _Sub("Snacks", ("Dark Chocolate", "Granola", "Trail Mix"), 5, 8),
        _Sub("Pantry", ("Olive Oil", "Pasta", "Basmati Rice"), 6, 12),
    ),
    "Pets": (
        _Sub("Dog Food", ("Dry Dog Food", "Wet Dog Food", "Dog Treats"), 35, 14),
        _Sub("Cat Food", ("Dry Cat Food", "Wet Cat Food", "Cat Treats"), 25, 12),
        _Sub("Pet Toys", ("Chew Toy", "Cat Teaser", "Fetch Ball"), 10),
        _Sub("Pet Care", ("Dog Leash", "Cat Litter", "Pet Shampoo"), 18, 21),
    ),
}

# pairs of subcategories bought together; used both ways
_COMPLEMENTS: tuple[tuple[str, str], ...] = (
    ("Shoes/Running", "Sports/Socks"),
    ("Shoes/Running", "Sports/Nutrition"),
    ("Shoes/Hiking", "Clothing/Jackets"),
    ("Shoes/Hiking", "Sports/Socks"),
    ("Shoes/Sneakers", "Clothing/T-Shirts"),
    ("Shoes/Sneakers", "Clothing/Jeans"),
    ("Shoes/Formal", "Clothing/Knitwear"),
    ("Shoes/Sandals", "Sports/Swimming"),
    ("Clothing/Dresses", "Beauty/Makeup"),
    ("Clothing/Dresses", "Beauty/Fragrance"),
    ("Clothing/Underwear", "Sports/Socks"),
    ("Sports/Fitness", "Sports/Nutrition"),
    ("Sports/Fitness", "Electronics/Wearables"),
    ("Sports/Cycling", "Electronics/Wearables"),
    ("Electronics/Phones", "Electronics/Accessories"),
    ("Electronics/Phones", "Electronics/Headphones"),
    ("Electronics/Speakers", "Electronics/Accessories"),
    ("Home/Kitchen", "Grocery/Pantry"),
    ("Home/Kitchen", "Home/Cleaning"),
    ("Home/Bedding", "Home/Decor"),
    ("Home/Bedding", "Home/Lighting"),
    ("Beauty/Skincare", "Beauty/Makeup"),
    ("Beauty/Haircare", "Beauty/Skincare"),
    ("Grocery/Coffee", "Grocery/Snacks"),
    ("Grocery/Coffee", "Home/Kitchen"),
    ("Grocery/Tea", "Grocery/Snacks"),
    ("Pets/Dog Food", "Pets/Pet Toys"),
    ("Pets/Dog Food", "Pets/Pet Care"),
    ("Pets/Cat Food", "Pets/Pet Toys"),
    ("Pets/Cat Food", "Pets/Pet Care"),
)

_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "Shoes": ("Lightweight", "Cushioned", "Waterproof", "Classic", "Breathable", "Leather"),
    "Clothing": ("Organic Cotton", "Slim-Fit", "Relaxed", "Classic", "Recycled", "Merino"),
    "Sports": ("Pro", "Performance", "Endurance", "Compact", "Training", "Elite"),
    "Electronics": ("Wireless", "Smart", "Compact", "Pro", "Ultra", "Noise-Free"),
    "Home": ("Nordic", "Eco", "Everyday", "Premium", "Minimal", "Handmade"),
    "Beauty": ("Hydrating", "Gentle", "Natural", "Radiant", "Sensitive", "Daily"),
    "Grocery": ("Organic", "Fair Trade", "Artisan", "Classic", "Italian", "Wholefood"),
    "Pets": ("Grain-Free", "Durable", "Natural", "Senior", "Puppy", "Everyday"),
}

_VARIANTS: dict[str, tuple[str, ...]] = {
    "Shoes": ("Black", "White", "Navy", "Grey", "Olive", "Tan"),
    "Clothing": ("Black", "White", "Navy", "Heather Grey", "Sage", "Rust"),
    "Sports": ("Black", "Blue", "Red", "Lime", "Graphite", "Orange"),
    "Electronics": ("Black", "White", "Silver", "Midnight", "Space Grey", "Blue"),
    "Home": ("White", "Oak", "Charcoal", "Linen", "Sand", "Sage"),
    "Beauty": ("30 ml", "50 ml", "100 ml", "200 ml", "Travel Size", "Refill"),
    "Grocery": ("250 g", "500 g", "1 kg", "Family Pack", "6-Pack", "Bulk"),
    "Pets": ("Small", "Medium", "Large", "Value Pack", "Blue", "Red"),
}

_BLURBS: dict[str, tuple[str, ...]] = {
    "Shoes": ("Made for all-day comfort.", "Grippy outsole, soft foam.", "Built to last."),
    "Clothing": ("Easy care, true to size.", "Soft on the skin.", "A wardrobe staple."),
    "Sports": ("Tested by athletes.", "For your next personal best.", "Gym-bag ready."),
    "Electronics": ("Two-year warranty.", "Long battery life.", "Pairs in seconds."),
    "Home": ("Designed in Scandinavia.", "Dishwasher safe where it matters.", "Cosy and calm."),
    "Beauty": ("Dermatologically tested.", "Vegan formula.", "No added fragrance."),
    "Grocery": ("Sourced responsibly.", "Store in a cool, dry place.", "Great for sharing."),
    "Pets": ("Vet approved.", "Tail-wag tested.", "Complete, balanced nutrition."),
}

_BRAND_HEADS = (
    "Nord", "Vel", "Alt", "Bri", "Cor", "Dun", "Elm", "Fal", "Gra", "Hal", "Iso", "Jun", "Kes",
    "Lum", "Mar", "Nov", "Orb", "Pel", "Quin", "Ros", "Sol", "Tor", "Ulv", "Ver", "Wil", "Yar",
    "Zen", "Ast", "Bel", "Cal",
)  # fmt: skip
_BRAND_TAILS = (
    "hem", "ora", "vik", "ton", "ara", "lux", "wood", "stad", "io", "ex", "ly", "den", "berg",
    "ino", "ova", "rex",
)  # fmt: skip

# behaviour parameters (chosen so the default shop has ~150k-400k events and a clear signal)
_NEW_ITEM_SHARE = 0.18  # items released after day 0
_DISCONTINUED_SHARE = 0.03  # items withdrawn before the end (available = False)
_NEW_USER_SHARE = 0.30  # users joining after day 0
_TASTE_ALPHA = 0.04  # Dirichlet concentration per subcategory (small = focused taste)
_FAVOURITE_BRANDS = 3
_FAVOURITE_BOOST = 5.0
_ZIPF_EXPONENT = 1.0
_SESSIONS_PER_WEEK = 1.7  # mean over users; log-normal across users
_ACTIVITY_SIGMA = 0.9
_EXPLORE_SHARE = 0.08  # sessions on a subcategory outside the user's taste
_COMPLEMENT_SHARE = 0.30  # sessions that also browse a complementary subcategory
_MEAN_EXTRA_VIEWS = 3.5
_MAX_VIEWS = 15
_CART_RATE = 0.21  # add-to-cart probability of a viewed item of average fit
_PURCHASE_RATE = 0.5  # purchase probability of a carted item
_REFILL_RATE = 0.6  # a bought consumable is bought again about refill_days later
_WEEKDAY_WEIGHT = np.array([0.9, 0.85, 0.9, 0.95, 1.05, 1.3, 1.25])  # Mon..Sun
_HOUR_WEIGHT = np.array(
    [0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 4, 4, 3, 3, 3, 4, 5, 7, 8, 8, 5, 0], dtype=float
)


def _check_sizes(users: int, items: int, days: int, seed: int) -> None:
    for name, value, low, high in (
        ("users", users, MIN_USERS, _MAX_SIZE),
        ("items", items, MIN_ITEMS, _MAX_SIZE),
        ("days", days, MIN_DAYS, _MAX_DAYS),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ConfigError(f"synthetic shop: {name} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(
                f"synthetic shop: {name} must be between {low} and {high}, got {value} "
                f"(a shop needs at least {MIN_USERS} users, {MIN_ITEMS} items and "
                f"{MIN_DAYS} days to have any structure)"
            )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"synthetic shop: seed must be a non-negative whole number, got {seed!r}")


def _start_timestamp(start: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"synthetic shop: start {start!r} is not a date ({exc})") from None
    if ts is pd.NaT:
        raise ConfigError(f"synthetic shop: start {start!r} is not a date")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(5, len(str(n - 1)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _choice_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One index per row of ``weights`` (non-negative, every row with positive mass)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    idx = (cum <= u[:, None]).sum(axis=1)
    return np.minimum(idx, weights.shape[1] - 1)


@dataclass
class _Catalogue:
    items: pd.DataFrame
    sub: np.ndarray  # subcategory index per item
    brand: np.ndarray  # brand index per item
    price: np.ndarray
    price_pos: np.ndarray  # standardised log price within the subcategory
    popularity: np.ndarray
    release: np.ndarray  # first day the item can be seen
    end: np.ndarray  # first day it can no longer be seen (days when never withdrawn)
    sub_names: list[str]
    sub_top: np.ndarray  # top-level index per subcategory
    sub_refill: np.ndarray  # refill interval per subcategory (0: not a consumable)
    complements: list[np.ndarray]  # complementary subcategories per subcategory
    brand_tops: np.ndarray  # brands x tops, 1 where a brand sells in that top category


def _make_catalogue(rng: np.random.Generator, n_items: int, days: int) -> _Catalogue:
    tops = list(CATEGORY_TREE)
    subs = [(t, s) for t, group in CATEGORY_TREE.items() for s in group]
    sub_names = [f"{t}/{s.name}" for t, s in subs]
    sub_top = np.array([tops.index(t) for t, _ in subs])
    n_sub, n_top = len(subs), len(tops)
    index = {name: k for k, name in enumerate(sub_names)}
    comp: list[list[int]] = [[] for _ in range(n_sub)]
    for a, b in _COMPLEMENTS:
        comp[index[a]].append(index[b])
        comp[index[b]].append(index[a])
    complements = [np.array(sorted(set(c)), dtype=np.int64) for c in comp]

    # brands: each sells in one to three top-level categories, with a price tier and a pull
    n_brands = int(np.clip(round(n_items / 25), 2 * n_top, 100))
    names = [h + t for h in _BRAND_HEADS for t in _BRAND_TAILS]
    brand_names = [names[k] for k in rng.choice(len(names), size=n_brands, replace=False)]
    brand_tops = np.zeros((n_brands, n_top), dtype=np.int8)
    brand_tops[np.arange(n_brands), np.arange(n_brands) % n_top] = 1
    extra = rng.choice([0, 1, 2], size=n_brands, p=[0.5, 0.35, 0.15])
    for b in range(n_brands):
        if extra[b]:
            brand_tops[b, rng.choice(n_top, size=extra[b], replace=False)] = 1
    brand_tier = rng.normal(0.0, 0.25, size=n_brands)
    brand_pull = rng.lognormal(0.0, 0.6, size=n_brands)

    # items per subcategory: every subcategory gets one while there are enough items
    sub_weight = rng.gamma(4.0, size=n_sub)
    sub_weight /= sub_weight.sum()
    first = rng.permutation(n_sub)[: min(n_items, n_sub)]
    rest = rng.choice(n_sub, size=n_items - len(first), p=sub_weight)
    sub = rng.permutation(np.concatenate([first, rest]))

    brand = np.empty(n_items, dtype=np.int64)
    for t in range(n_top):
        mask = sub_top[sub] == t
        cands = np.flatnonzero(brand_tops[:, t])
        p = brand_pull[cands] / brand_pull[cands].sum()
        brand[mask] = cands[rng.choice(len(cands), size=int(mask.sum()), p=p)]

    median = np.array([s.median_price for _, s in subs])
    log_price = np.log(median[sub]) + brand_tier[brand] + rng.normal(0.0, 0.35, size=n_items)
    price = np.maximum(np.round(np.exp(log_price)) - 0.01, 0.49)
    price_pos = np.zeros(n_items)
    for s in range(n_sub):
        mask = sub == s
        if mask.any():
            lp = np.log(price[mask])
            price_pos[mask] = (lp - lp.mean()) / max(lp.std(), 0.1)

    # Zipf-like popularity over a random order, tilted by brand pull
    rank = rng.permutation(n_items)
    popularity = (rank + 1.0) ** -_ZIPF_EXPONENT * brand_pull[brand] ** 0.5
    popularity /= popularity.sum()

    # releases and withdrawals; the most popular item of each subcategory is there throughout
    release = np.where(
        rng.random(n_items) < _NEW_ITEM_SHARE, rng.integers(1, days, size=n_items), 0
    )
    end = np.where(
        rng.random(n_items) < _DISCONTINUED_SHARE,
        rng.integers(days // 2, days, size=n_items),
        days,
    )
    for s in range(n_sub):
        members = np.flatnonzero(sub == s)
        if len(members):
            anchor = members[np.argmax(popularity[members])]
            release[anchor], end[anchor] = 0, days
    end = np.maximum(end, release + 1)

    adj_pick = rng.integers(0, 6, size=n_items)
    noun_pick = rng.integers(0, 3, size=n_items)
    variant_pick = rng.integers(0, 6, size=n_items)
    blurb_pick = rng.integers(0, 3, size=n_items)
    titles, descriptions, categories = [], [], []
    for i in range(n_items):
        top, s = subs[sub[i]]
        noun = s.nouns[noun_pick[i]]
        adj = _ADJECTIVES[top][adj_pick[i]]
        b = brand_names[brand[i]]
        titles.append(f"{adj} {b} {noun} ({_VARIANTS[top][variant_pick[i]]})")
        descriptions.append(
            f"{adj} {noun.lower()} by {b}, from our {s.name.lower()} range. "
            f"{_BLURBS[top][blurb_pick[i]]}"
        )
        categories.append(sub_names[sub[i]])

    items = pd.DataFrame(
        {
            "item_id": _ids("i", n_items),
            "title": titles,
            "category": categories,
            "brand": np.array(brand_names, dtype=object)[brand],
            "price": price,
            "description": descriptions,
            "available": end >= days,
        }
    )
    return _Catalogue(
        items=items,
        sub=sub,
        brand=brand,
        price=price,
        price_pos=price_pos,
        popularity=popularity,
        release=release,
        end=end,
        sub_names=sub_names,
        sub_top=sub_top,
        sub_refill=np.array([s.refill_days for _, s in subs]),
        complements=complements,
        brand_tops=brand_tops,
    )


@dataclass
class _Users:
    taste: np.ndarray  # users x subcategories, rows sum to 1
    brand_affinity: np.ndarray  # users x brands
    price_level: np.ndarray
    join: np.ndarray  # first active day
    sessions_per_week: np.ndarray


def _make_users(rng: np.random.Generator, n_users: int, days: int, cat: _Catalogue) -> _Users:
    n_sub = len(cat.sub_names)
    stocked = np.bincount(cat.sub, minlength=n_sub) > 0
    size = np.bincount(cat.sub, minlength=n_sub).astype(float)
    prior = np.where(stocked, (size + 1.0) / (size + 1.0)[stocked].sum(), 0.0)
    alpha = np.maximum(_TASTE_ALPHA * n_sub * prior, 1e-3)
    g = rng.gamma(np.broadcast_to(alpha, (n_users, n_sub)))
    # guarantee at least one interest per user (gamma with tiny alpha can underflow to zero)
    favourite = rng.choice(n_sub, size=n_users, p=prior)
    g[np.arange(n_users), favourite] += rng.gamma(1.0, size=n_users)
    g *= stocked
    taste = g / g.sum(axis=1, keepdims=True)

    n_brands = cat.brand_tops.shape[0]
    top_taste = np.zeros((n_users, cat.brand_tops.shape[1]))
    np.add.at(top_taste.T, cat.sub_top, taste.T)
    brand_w = top_taste @ cat.brand_tops.T + 1e-3
    gumbel = -np.log(-np.log(rng.random((n_users, n_brands))))
    fav = np.argsort(-(np.log(brand_w) + gumbel), axis=1, kind="stable")[:, :_FAVOURITE_BRANDS]
    brand_affinity = rng.lognormal(0.0, 0.5, size=(n_users, n_brands))
    brand_affinity[np.arange(n_users)[:, None], fav] *= _FAVOURITE_BOOST

    price_level = rng.normal(0.0, 1.0, size=n_users)
    join = np.where(rng.random(n_users) < _NEW_USER_SHARE, rng.integers(1, days, size=n_users), 0)
    mu = np.log(_SESSIONS_PER_WEEK) - _ACTIVITY_SIGMA**2 / 2
    sessions_per_week = np.minimum(rng.lognormal(mu, _ACTIVITY_SIGMA, size=n_users), 25.0)
    return _Users(taste, brand_affinity, price_level, join, sessions_per_week)


def _item_fit(users: _Users, cat: _Catalogue, u: np.ndarray, it: np.ndarray) -> np.ndarray:
    """How much user ``u`` likes item ``it`` beyond popularity (brand and price), elementwise."""
    price_fit = np.exp(-0.5 * ((cat.price_pos[it] - users.price_level[u]) / 0.8) ** 2)
    return users.brand_affinity[u, cat.brand[it]] * price_fit


def _session_days(rng: np.random.Generator, first: np.ndarray, days: int, start_dow: int):
    """A day in [first, days) per session, with a weekly rhythm (by rejection)."""
    day = np.empty(len(first), dtype=np.int64)
    todo = np.arange(len(first))
    top = _WEEKDAY_WEIGHT.max()
    while len(todo):
        d = first[todo] + (rng.random(len(todo)) * (days - first[todo])).astype(np.int64)
        ok = rng.random(len(todo)) * top < _WEEKDAY_WEIGHT[(d + start_dow) % 7]
        day[todo[ok]] = d[ok]
        todo = todo[~ok]
    return day


def _start_seconds(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    hour = rng.choice(24, size=len(day), p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
    return day * _DAY + hour * 3600 + rng.integers(0, 3600, size=len(day))


def _sample_items(
    rng: np.random.Generator,
    cat: _Catalogue,
    users: _Users,
    slot_user: np.ndarray,
    slot_day: np.ndarray,
    slot_sub: np.ndarray,
) -> np.ndarray:
    """An item per view slot: popularity x brand affinity x price fit among items on sale."""
    out = np.empty(len(slot_user), dtype=np.int64)
    order = np.argsort(slot_sub, kind="stable")
    bounds = np.searchsorted(slot_sub[order], np.arange(len(cat.sub_names) + 1))
    for s in range(len(cat.sub_names)):
        slots = order[bounds[s] : bounds[s + 1]]
        members = np.flatnonzero(cat.sub == s)
        if not len(slots):
            continue
        step = max(1, 4_000_000 // len(members))  # bounded memory for huge shops
        for lo in range(0, len(slots), step):
            chunk = slots[lo : lo + step]
            u, d = slot_user[chunk], slot_day[chunk]
            on_sale = (cat.release[members] <= d[:, None]) & (d[:, None] < cat.end[members])
            fresh = (cat.release[members] > 0) & (d[:, None] - cat.release[members] < 14)
            w = cat.popularity[members] * on_sale * np.where(fresh, 2.0, 1.0)
            w = w * _item_fit(users, cat, u[:, None], members[None, :])
            out[chunk] = members[_choice_rows(rng, w)]
    return out


def _browse_sessions(
    rng: np.random.Generator, cat: _Catalogue, users: _Users, days: int, start_dow: int
):
    """Ordinary sessions: returns per-session (user, start second) and per-view (session, item)."""
    n_users, n_sub = users.taste.shape
    weeks = (days - users.join) / 7.0
    n_sess = rng.poisson(users.sessions_per_week * weeks)
    sess_user = np.repeat(np.arange(n_users), n_sess)
    n = len(sess_user)
    sess_day = _session_days(rng, users.join[sess_user], days, start_dow)
    sess_start = _start_seconds(rng, sess_day)

    # focus subcategory: from taste, sometimes exploring the shop
    focus = _choice_rows(rng, users.taste[sess_user])
    stocked = np.bincount(cat.sub, minlength=n_sub) > 0
    explore = rng.random(n) < _EXPLORE_SHARE
    focus[explore] = rng.choice(np.flatnonzero(stocked), size=int(explore.sum()))
    # a complementary subcategory for some sessions
    comp = [c[stocked[c]] for c in cat.complements]
    n_comp = np.array([len(c) for c in comp])
    table = np.zeros((n_sub, max(int(n_comp.max()), 1)), dtype=np.int64)
    for s, c in enumerate(comp):
        table[s, : len(c)] = c
    want = (rng.random(n) < _COMPLEMENT_SHARE) & (n_comp[focus] > 0)
    pick = (rng.random(n) * n_comp[focus]).astype(np.int64)
    comp_sub = np.where(want, table[focus, pick], focus)

    n_views = np.minimum(1 + rng.poisson(_MEAN_EXTRA_VIEWS, size=n), _MAX_VIEWS)
    view_sess = np.repeat(np.arange(n), n_views)
    in_comp = (rng.random(len(view_sess)) < 0.35) & (comp_sub[view_sess] != focus[view_sess])
    view_sub = np.where(in_comp, comp_sub[view_sess], focus[view_sess])
    view_item = _sample_items(rng, cat, users, sess_user[view_sess], sess_day[view_sess], view_sub)
    return sess_user, sess_start, view_sess, view_item


def _funnel(
    rng: np.random.Generator,
    cat: _Catalogue,
    users: _Users,
    sess_user: np.ndarray,
    sess_start: np.ndarray,
    view_sess: np.ndarray,
    view_item: np.ndarray,
    reorder: np.ndarray | None = None,
):
    """Views, add-to-carts and purchases of a batch of sessions, with their times.

    ``view_sess`` indexes ``sess_user``/``sess_start`` and is grouped by session (non-decreasing).
    ``reorder`` marks views of an item the user came back to buy again: carted and bought almost
    always. Returns arrays (session, item, type, second, quantity) covering all events.
    """
    n_views = len(view_sess)
    # views are 10 s .. 5 min apart within a session
    gap = np.minimum(10 + rng.exponential(60.0, size=n_views), 300).astype(np.int64)
    first_of_sess = np.r_[True, view_sess[1:] != view_sess[:-1]]
    csum = np.cumsum(gap)
    before = np.maximum.accumulate(np.where(first_of_sess, csum - gap, 0))
    view_t = sess_start[view_sess] + csum - before

    # each distinct (session, item) decides on the cart at its first view
    key = view_sess.astype(np.int64) * (len(cat.sub) + 1) + view_item
    _, first_idx = np.unique(key, return_index=True)
    first_idx.sort()
    it = view_item[first_idx]
    fit = _item_fit(users, cat, sess_user[view_sess[first_idx]], it)
    p_cart = np.minimum(_CART_RATE * np.sqrt(fit) / 1.6, 0.9)
    p_buy = np.full(len(first_idx), _PURCHASE_RATE)
    qty_p = np.array([0.75, 0.18, 0.07])
    if reorder is not None:
        again = reorder[first_idx]
        p_cart[again], p_buy[again] = 0.9, 0.95
    cart_draw = rng.random(len(first_idx)) < p_cart
    carted, p_buy = first_idx[cart_draw], p_buy[cart_draw]
    cart_t = view_t[carted] + rng.integers(5, 90, size=len(carted))
    consumable = cat.sub_refill[cat.sub[view_item[carted]]] > 0
    qty = np.where(consumable, rng.choice([1, 2, 3], size=len(carted), p=qty_p), 1)

    # checkout at the end of the session
    bought = rng.random(len(carted)) < p_buy
    sess_end = np.zeros(len(sess_start), dtype=np.int64)
    np.maximum.at(sess_end, view_sess, view_t)
    np.maximum.at(sess_end, view_sess[carted], cart_t)
    buy_idx = carted[bought]
    buy_t = sess_end[view_sess[buy_idx]] + rng.integers(30, 300, size=len(buy_idx))

    return (
        np.concatenate([view_sess, view_sess[carted], view_sess[buy_idx]]),
        np.concatenate([view_item, view_item[carted], view_item[buy_idx]]),
        np.repeat([VIEW, ADDTOCART, PURCHASE], [n_views, len(carted), len(buy_idx)]),
        np.concatenate([view_t, cart_t, buy_t]),
        np.concatenate([np.ones(n_views, dtype=np.int64), qty, qty[bought]]),
    )


def _reorders(
    rng: np.random.Generator,
    cat: _Catalogue,
    users: _Users,
    days: int,
    buy_user: np.ndarray,
    buy_item: np.ndarray,
    buy_t: np.ndarray,
):
    """Replenishment sessions for bought consumables: the item again, plus a look around.

    Returns (session user, session start, events as in ``_funnel``) or None when none fall
    inside the period.
    """
    interval = cat.sub_refill[cat.sub[buy_item]]
    again = (interval > 0) & (rng.random(len(buy_item)) < _REFILL_RATE)
    wait = rng.gamma(6.0, interval[again] / 6.0) * _DAY
    r_user, r_item = buy_user[again], buy_item[again]
    r_day = ((buy_t[again] + wait) // _DAY).astype(np.int64)
    keep = (r_day < days) & (r_day < cat.end[r_item])
    r_user, r_item, r_day = r_user[keep], r_item[keep], r_day[keep]
    if not len(r_user):
        return None
    r_start = _start_seconds(rng, r_day)
    extra = rng.poisson(0.8, size=len(r_user))
    local = np.repeat(np.arange(len(r_user)), 1 + extra)
    is_first = np.r_[True, local[1:] != local[:-1]]
    others = _sample_items(rng, cat, users, r_user[local], r_day[local], cat.sub[r_item[local]])
    v_item = np.where(is_first, r_item[local], others)
    reorder = v_item == r_item[local]
    return r_user, r_start, _funnel(rng, cat, users, r_user, r_start, local, v_item, reorder)


def item_lifecycle(items: int, days: int, seed: int) -> pd.DataFrame:
    """When each item of ``generate_shop(..., items, days, seed)`` is on sale.

    Columns: ``item_id``, ``release_day`` (first day, 0-based, on which it can have events) and
    ``end_day`` (first day it is withdrawn; ``days`` when it stays on sale). The catalogue is the
    first thing ``generate_shop`` draws, so this recomputes it without the events.
    """
    _check_sizes(MIN_USERS, items, days, seed)
    cat = _make_catalogue(np.random.default_rng(int(seed)), int(items), int(days))
    return pd.DataFrame(
        {"item_id": cat.items["item_id"], "release_day": cat.release, "end_day": cat.end}
    )


def generate_shop(
    users: int, items: int, days: int, seed: int, start: str = "2026-01-05"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic shop's canonical ``(events, items)`` tables, identical for identical arguments.

    ``users`` shoppers browse ``items`` products for ``days`` days from ``start`` (midnight UTC
    unless a time zone is given); events are sorted by (timestamp, user_id, item_id). Raises
    ``ConfigError`` for sizes too small to have structure (fewer than 10 users, 20 items or
    7 days) or absurdly large.
    """
    _check_sizes(users, items, days, seed)
    t0 = _start_timestamp(start)
    users, items, days, seed = int(users), int(items), int(days), int(seed)
    rng = np.random.default_rng(seed)

    cat = _make_catalogue(rng, items, days)
    people = _make_users(rng, users, days, cat)

    sess_user, sess_start, view_sess, view_item = _browse_sessions(
        rng, cat, people, days, t0.day_of_week
    )
    batch = _funnel(rng, cat, people, sess_user, sess_start, view_sess, view_item)
    parts, all_user, all_start = [batch], [sess_user], [sess_start]
    n_sessions = len(sess_user)
    while True:  # reorders of reorders, until they fall past the end
        b_sess, b_item, b_type, b_t, _ = batch
        buy = b_type == PURCHASE
        b_user = all_user[-1][b_sess[buy] - (n_sessions - len(all_user[-1]))]
        found = _reorders(rng, cat, people, days, b_user, b_item[buy], b_t[buy])
        if found is None:
            break
        r_user, r_start, batch = found
        batch = (batch[0] + n_sessions, *batch[1:])
        parts.append(batch)
        all_user.append(r_user)
        all_start.append(r_start)
        n_sessions += len(r_user)

    ev_sess, ev_item, ev_type, ev_t, ev_qty = (
        np.concatenate([p[k] for p in parts]) for k in range(5)
    )
    sess_user_all = np.concatenate(all_user)
    sess_start_all = np.concatenate(all_start)
    inside = ev_t < days * _DAY
    ev_sess, ev_item, ev_type, ev_t, ev_qty = (
        a[inside] for a in (ev_sess, ev_item, ev_type, ev_t, ev_qty)
    )
    ev_user = sess_user_all[ev_sess]
    # session ids follow session start times
    sess_order = np.lexsort((sess_user_all, sess_start_all))
    sess_rank = np.empty_like(sess_order)
    sess_rank[sess_order] = np.arange(len(sess_order))
    ev_sess = sess_rank[ev_sess]
    order = np.lexsort((ev_sess, ev_type, ev_item, ev_user, ev_t))

    events = pd.DataFrame(
        {
            "user_id": _ids("u", users)[ev_user[order]],
            "item_id": cat.items["item_id"].to_numpy()[ev_item[order]],
            "event_type": _EVENT_NAMES[ev_type[order]],
            "timestamp": t0 + pd.to_timedelta(ev_t[order], unit="s"),
            "session_id": _ids("s", max(len(sess_order), 1))[ev_sess[order]],
            "quantity": ev_qty[order].astype(float),
            "price": cat.price[ev_item[order]],
        }
    )
    return to_canonical_events(events), to_canonical_items(cat.items)
