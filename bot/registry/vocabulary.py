"""The registry's controlled vocabularies: one module that mail, chat, import, forms and
pages all use.

Status definitions follow MedCom's wording for Det telemedicinske landkort. The
municipalities are the 98 Danish municipalities since the 2007 structural reform, each
in exactly one of the five regions.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.i18n import language_of
from bot.core.i18n import text as catalogue_text


@dataclass(frozen=True)
class Term:
    """One value of a controlled vocabulary: its stored key and its names in Danish and
    English. The names are data the parser recognises in mail (a reply says "Status: I
    drift"), so they live here and not in the catalogues; the *explanation* of a status is
    text people read and lives in the ``messages`` catalogue (``status.help.<key>``)."""

    key: str
    da: str
    en: str

    def label(self, lang: str | None) -> str:
        """The name in ``lang``; Danish for a language the vocabulary has no names in."""
        return {"da": self.da, "en": self.en}.get(language_of(lang), self.da)

    def help(self, lang: str | None) -> str:
        """What the value means, in ``lang`` ("" for a vocabulary without explanations)."""
        key = f"status.help.{self.key}"
        explained = catalogue_text(lang, key)
        return "" if explained == key else explained


STATUSES: tuple[Term, ...] = (
    Term("projekt", "Projekt", "Project"),
    Term("under_udbredelse", "Under udbredelse", "Being rolled out"),
    Term("i_drift", "I drift", "In operation"),
    Term("afsluttet", "Afsluttet", "Ended"),
)
STATUS_KEYS: tuple[str, ...] = tuple(t.key for t in STATUSES)
ONGOING_STATUSES: frozenset[str] = frozenset({"projekt", "under_udbredelse", "i_drift"})

PARTICIPANTS: tuple[Term, ...] = (
    Term("almen_praksis", "Almen praksis", "General practice"),
    Term("kommune", "Kommune", "Municipality"),
    Term("sygehus", "Sygehus", "Hospital"),
)
PARTICIPANT_KEYS: tuple[str, ...] = tuple(t.key for t in PARTICIPANTS)

REGIONS: tuple[Term, ...] = (
    Term("hovedstaden", "Region Hovedstaden", "Capital Region of Denmark"),
    Term("midtjylland", "Region Midtjylland", "Central Denmark Region"),
    Term("nordjylland", "Region Nordjylland", "North Denmark Region"),
    Term("sjaelland", "Region Sjælland", "Region Zealand"),
    Term("syddanmark", "Region Syddanmark", "Region of Southern Denmark"),
)
REGION_KEYS: tuple[str, ...] = tuple(t.key for t in REGIONS)

# Whether the initiative has been evaluated (the link or report is evaluation_url).
EVALUATIONS: tuple[Term, ...] = (
    Term("ikke_evalueret", "Ikke evalueret", "Not evaluated"),
    Term("under_evaluering", "Under evaluering", "Evaluation in progress"),
    Term("evalueret", "Evalueret", "Evaluated"),
)

# Patient-reported outcomes, as MedCom's mapping has counted them since 2019: PRO
# questionnaires, PRO home measurements, or explicitly none ("ingen" stands alone).
PRO_KINDS: tuple[Term, ...] = (
    Term("spoergeskema", "PRO-spørgeskemaer", "PRO questionnaires"),
    Term("hjemmemaaling", "PRO-hjemmemålinger", "PRO home measurements"),
    Term("ingen", "Ingen PRO", "No PRO"),
)
NO_PRO = "ingen"

# The fields whose values are keys of a fixed vocabulary (menus and check boxes in the
# forms, labels on the pages); the "choice" kinds of bot.registry.record read through
# CHOICE_SYNONYMS (folded words people write → key) besides each term's own names.
CHOICES: dict[str, tuple[Term, ...]] = {
    "status": STATUSES, "participants": PARTICIPANTS, "regions": REGIONS,
    "pro": PRO_KINDS, "evaluation_status": EVALUATIONS,
}
CHOICE_SYNONYMS: dict[str, dict[str, str]] = {
    "evaluation_status": {
        **{w: "ikke_evalueret" for w in (
            "nej", "no", "ikke evalueret", "ikke endnu", "not evaluated", "not yet", "ingen",
            "none", "uevalueret")},
        **{w: "under_evaluering" for w in (
            "under evaluering", "i gang", "igang", "igangværende", "evalueres", "in progress",
            "being evaluated", "evaluation in progress", "ongoing", "planlagt", "planned")},
        **{w: "evalueret" for w in (
            "ja", "yes", "evalueret", "evaluated", "færdig", "afsluttet", "done", "completed",
            "evaluering foreligger")},
    },
    "pro": {
        **{w: "spoergeskema" for w in (
            "spørgeskema", "spørgeskemaer", "pro spørgeskema", "pro spørgeskemaer",
            "questionnaire", "questionnaires", "pro questionnaire", "pro questionnaires",
            "spoergeskema", "spoergeskemaer")},
        **{w: "hjemmemaaling" for w in (
            "hjemmemåling", "hjemmemålinger", "pro hjemmemåling", "pro hjemmemålinger",
            "målinger", "måling", "home measurement", "home measurements", "measurements",
            "pro home measurements", "hjemmemaaling", "hjemmemaalinger")},
        **{w: "ingen" for w in ("nej", "no", "ingen", "none", "ingen pro", "no pro")},
    },
}

# The 98 municipalities by region (official short names, as in "X Kommune").
MUNICIPALITIES_BY_REGION: dict[str, tuple[str, ...]] = {
    "hovedstaden": (
        "Albertslund", "Allerød", "Ballerup", "Bornholm", "Brøndby", "Dragør", "Egedal",
        "Fredensborg", "Frederiksberg", "Frederikssund", "Furesø", "Gentofte", "Gladsaxe",
        "Glostrup", "Gribskov", "Halsnæs", "Helsingør", "Herlev", "Hillerød", "Hvidovre",
        "Høje-Taastrup", "Hørsholm", "Ishøj", "København", "Lyngby-Taarbæk", "Rudersdal",
        "Rødovre", "Tårnby", "Vallensbæk",
    ),
    "sjaelland": (
        "Faxe", "Greve", "Guldborgsund", "Holbæk", "Kalundborg", "Køge", "Lejre", "Lolland",
        "Næstved", "Odsherred", "Ringsted", "Roskilde", "Slagelse", "Solrød", "Sorø", "Stevns",
        "Vordingborg",
    ),
    "syddanmark": (
        "Aabenraa", "Assens", "Billund", "Esbjerg", "Faaborg-Midtfyn", "Fanø", "Fredericia",
        "Haderslev", "Kerteminde", "Kolding", "Langeland", "Middelfart", "Nordfyns", "Nyborg",
        "Odense", "Svendborg", "Sønderborg", "Tønder", "Varde", "Vejen", "Vejle", "Ærø",
    ),
    "midtjylland": (
        "Aarhus", "Favrskov", "Hedensted", "Herning", "Holstebro", "Horsens", "Ikast-Brande",
        "Lemvig", "Norddjurs", "Odder", "Randers", "Ringkøbing-Skjern", "Samsø", "Silkeborg",
        "Skanderborg", "Skive", "Struer", "Syddjurs", "Viborg",
    ),
    "nordjylland": (
        "Aalborg", "Brønderslev", "Frederikshavn", "Hjørring", "Jammerbugt", "Læsø",
        "Mariagerfjord", "Morsø", "Rebild", "Thisted", "Vesthimmerland",
    ),
}
MUNICIPALITY_REGION: dict[str, str] = {
    name: region for region, names in MUNICIPALITIES_BY_REGION.items() for name in names
}
MUNICIPALITIES: tuple[str, ...] = tuple(sorted(MUNICIPALITY_REGION))

# The official three-digit municipality codes (kommunekoder, as in DAGI and CPR): what
# the map's outlines are joined on, since place names change (Århus became Aarhus).
MUNICIPALITY_CODES: dict[str, str] = {
    "København": "101", "Frederiksberg": "147", "Ballerup": "151", "Brøndby": "153",
    "Dragør": "155", "Gentofte": "157", "Gladsaxe": "159", "Glostrup": "161", "Herlev": "163",
    "Albertslund": "165", "Hvidovre": "167", "Høje-Taastrup": "169", "Lyngby-Taarbæk": "173",
    "Rødovre": "175", "Ishøj": "183", "Tårnby": "185", "Vallensbæk": "187", "Furesø": "190",
    "Allerød": "201", "Fredensborg": "210", "Helsingør": "217", "Hillerød": "219",
    "Hørsholm": "223", "Rudersdal": "230", "Egedal": "240", "Frederikssund": "250",
    "Greve": "253", "Køge": "259", "Halsnæs": "260", "Roskilde": "265", "Solrød": "269",
    "Gribskov": "270", "Odsherred": "306", "Holbæk": "316", "Faxe": "320", "Kalundborg": "326",
    "Ringsted": "329", "Slagelse": "330", "Stevns": "336", "Sorø": "340", "Lejre": "350",
    "Lolland": "360", "Næstved": "370", "Guldborgsund": "376", "Vordingborg": "390",
    "Bornholm": "400", "Middelfart": "410", "Assens": "420", "Faaborg-Midtfyn": "430",
    "Kerteminde": "440", "Nyborg": "450", "Odense": "461", "Svendborg": "479",
    "Nordfyns": "480", "Langeland": "482", "Ærø": "492", "Haderslev": "510", "Billund": "530",
    "Sønderborg": "540", "Tønder": "550", "Esbjerg": "561", "Fanø": "563", "Varde": "573",
    "Vejen": "575", "Aabenraa": "580", "Fredericia": "607", "Horsens": "615", "Kolding": "621",
    "Vejle": "630", "Herning": "657", "Holstebro": "661", "Lemvig": "665", "Struer": "671",
    "Syddjurs": "706", "Norddjurs": "707", "Favrskov": "710", "Odder": "727", "Randers": "730",
    "Silkeborg": "740", "Samsø": "741", "Skanderborg": "746", "Aarhus": "751",
    "Ikast-Brande": "756", "Ringkøbing-Skjern": "760", "Hedensted": "766", "Morsø": "773",
    "Skive": "779", "Thisted": "787", "Viborg": "791", "Brønderslev": "810",
    "Frederikshavn": "813", "Vesthimmerland": "820", "Læsø": "825", "Rebild": "840",
    "Mariagerfjord": "846", "Jammerbugt": "849", "Aalborg": "851", "Hjørring": "860",
}

# The official names that are not "<short name> Kommune" (a genitive, or Bornholm's own).
_OFFICIAL_NAMES: dict[str, str] = {
    "København": "Københavns Kommune", "Bornholm": "Bornholms Regionskommune",
    "Vesthimmerland": "Vesthimmerlands Kommune",
}


def official_municipality_name(name: str) -> str:
    """"Odense" → "Odense Kommune"; "København" → "Københavns Kommune": the name the
    municipality uses itself (a proper name, the same in every language)."""
    return _OFFICIAL_NAMES.get(name, f"{name} Kommune")


# Other names people write for a municipality (matched after folding, see fold_name).
MUNICIPALITY_ALIASES: dict[str, str] = {
    "kbh": "København", "kbh.": "København", "københavn k": "København",
    "copenhagen": "København", "koebenhavn": "København", "kobenhavn": "København",
    "århus": "Aarhus", "arhus": "Aarhus", "åbenrå": "Aabenraa", "lyngby": "Lyngby-Taarbæk",
    "kongens lyngby": "Lyngby-Taarbæk", "taastrup": "Høje-Taastrup",
    "høje taastrup": "Høje-Taastrup", "ringkøbing": "Ringkøbing-Skjern",
    "ikast": "Ikast-Brande", "faaborg": "Faaborg-Midtfyn", "nordfyn": "Nordfyns",
    "vesthimmerlands": "Vesthimmerland", "bornholms regionskommune": "Bornholm",
    "elsinore": "Helsingør", "frederiksberg kommune": "Frederiksberg",
}

SECTORS: tuple[Term, ...] = (
    Term("monosektoriel", "Monosektoriel", "Single-sector"),
    Term("sygehus_kommune", "Sygehus–kommune", "Hospital–municipality"),
    Term("sygehus_almen_praksis", "Sygehus–almen praksis", "Hospital–general practice"),
    Term("kommune_almen_praksis", "Kommune–almen praksis", "Municipality–general practice"),
    Term("alle_tre", "Sygehus–kommune–almen praksis", "Hospital–municipality–general practice"),
)
SECTOR_KEYS: tuple[str, ...] = tuple(t.key for t in SECTORS)


def sector_of(participants: Iterable[str]) -> str | None:
    """MedCom's sector class of a set of participant kinds, or None when none is known.

    One kind is *monosektoriel*; two or more is *tværsektoriel*, named by the combination.
    """
    kinds = frozenset(p for p in participants if p in PARTICIPANT_KEYS)
    if not kinds:
        return None
    if len(kinds) == 1:
        return "monosektoriel"
    if len(kinds) == 3:
        return "alle_tre"
    if kinds == {"sygehus", "kommune"}:
        return "sygehus_kommune"
    if kinds == {"sygehus", "almen_praksis"}:
        return "sygehus_almen_praksis"
    return "kommune_almen_praksis"


def term(terms: tuple[Term, ...], key: str) -> Term:
    """The Term with this key (KeyError for an unknown key)."""
    for t in terms:
        if t.key == key:
            return t
    raise KeyError(key)


def label_of(terms: tuple[Term, ...], key: str, lang: str = "da") -> str:
    """A key's label in a language, or the key itself when it is not in the vocabulary."""
    try:
        return term(terms, key).label(lang)
    except KeyError:
        return key


def fold_name(text: str) -> str:
    """Fold a place name for matching: case, spaces, hyphens, and aa/ae/oe spellings."""
    t = text.casefold().strip().replace("-", " ")
    t = " ".join(t.split())
    return t.replace("aa", "å").replace("ae", "æ").replace("oe", "ø")
