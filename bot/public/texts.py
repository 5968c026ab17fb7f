"""Words of the public pages (Danish and English) and small formatting helpers."""
from __future__ import annotations

from datetime import date, datetime

from bot.core.i18n import register

MONTHS_DA = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
             "september", "oktober", "november", "december")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")


def format_date(value: date | datetime | str | None, lang: str = "da") -> str:
    """A date for people: "3. marts 2021" / "3 March 2021"; "2021-03" → "marts 2021";
    text that is not a date is returned as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    months = MONTHS_EN if lang == "en" else MONTHS_DA
    if isinstance(value, date):
        if lang == "en":
            return f"{value.day} {months[value.month - 1]} {value.year}"
        return f"{value.day}. {months[value.month - 1]} {value.year}"
    text = str(value)
    parts = text.split("-")
    try:
        if len(parts) == 3:
            return format_date(date(int(parts[0]), int(parts[1]), int(parts[2])), lang)
        if len(parts) == 2:
            return f"{months[int(parts[1]) - 1]} {int(parts[0])}"
        if len(parts) == 1 and len(text) == 4:
            return str(int(text))
    except (ValueError, IndexError):
        pass
    return text


def count_text(n: int, lang: str = "da") -> str:
    """3 → "3 initiativer"; 1 → "1 initiativ"."""
    if lang == "en":
        return f"{n} initiative" if n == 1 else f"{n} initiatives"
    return f"{n} initiativ" if n == 1 else f"{n} initiativer"


register({
    "da": {
        "pub.catalogue.title": "Telemedicinske initiativer i Danmark",
        "pub.catalogue.lead": "Det telemedicinske landkort samler telemedicinske projekter og "
                              "løsninger i regioner, kommuner og almen praksis. Søg, filtrér "
                              "og del linket til dit udvalg.",
        "pub.search": "Søg", "pub.search.label": "Søg i titel, beskrivelse, organisation, "
                                                 "patientgrupper, teknologi, kommuner og "
                                                 "regioner",
        "pub.search.placeholder": "fx KOL, hjertesvigt, video",
        "pub.filters": "Filtre", "pub.filter.apply": "Vis resultater",
        "pub.filter.clear": "Nulstil alle filtre", "pub.filter.any": "Alle",
        "pub.filter.status": "Status", "pub.filter.region": "Region",
        "pub.filter.municipality": "Kommune", "pub.filter.participant": "Deltagere",
        "pub.filter.patient_group": "Patientgruppe", "pub.filter.technology": "Teknologi",
        "pub.filter.sector": "Sektor", "pub.filter.q": "Søgning",
        "pub.filter.remove": "Fjern filter",
        "pub.did_you_mean": "Mente du",
        "pub.api.years": "Tallene år for år på optællingsdagen (også CSV med ?format=csv).",
        "pub.api.excel": "Alle felter til Excel: semikolon, danske kolonnenavne.",
        "pub.api.feed": "Nye og ændrede initiativer som Atom-feed.",
        "pub.stats.as_of": "Tal opgjort pr.", "pub.stats.today": "i dag",
        "pub.stats.show": "Vis", "pub.stats.counted": "Opgjort pr.",
        "pub.stats.years_title": "Årene side om side",
        "pub.stats.years_desc": "Tallene opgjort hvert år på samme dag, ud fra "
                                "initiativernes historik.",
        "pub.stats.counted_col": "Opgjort pr.", "pub.stats.col_total": "I alt",
        "pub.stats.new": "Nye siden året før",
        "pub.stats.newly_ended": "Afsluttet siden året før",
        "pub.stats.years_json": "Årene som JSON", "pub.stats.years_csv": "Årene som CSV",
        "pub.updated": "Landkortet er sidst opdateret",
        "pub.sort": "Sortér", "pub.sort.title": "Titel (A–Å)",
        "pub.sort.updated": "Senest ændret", "pub.sort.confirmed": "Senest bekræftet",
        "pub.sort.start": "Nyeste startdato",
        "pub.results.none": "Ingen initiativer passer til søgningen.",
        "pub.results.none.hint": "Prøv med færre filtre eller et andet søgeord.",
        "pub.results.showing": "Viser", "pub.results.of": "af",
        "pub.results.found": "initiativer fundet", "pub.results.found1": "initiativ fundet",
        "pub.page.previous": "Forrige", "pub.page.next": "Næste", "pub.page": "Side",
        "pub.paging": "Sider",
        "pub.last_confirmed": "Sidst bekræftet", "pub.never_confirmed": "Ikke bekræftet endnu",
        "pub.download.excel": "Hent til Excel", "pub.download.csv": "CSV (data)",
        "pub.download.json": "JSON (API)",
        "pub.unknown": "Ikke oplyst",
        "pub.field.title": "Titel", "pub.field.description": "Beskrivelse",
        "pub.field.status": "Status", "pub.field.participants": "Deltagere",
        "pub.field.regions": "Regioner", "pub.field.municipalities": "Kommuner",
        "pub.field.organisation": "Organisation", "pub.field.patient_groups": "Patientgrupper",
        "pub.field.technology": "Teknologi", "pub.field.start_date": "Startdato",
        "pub.field.end_date": "Slutdato", "pub.field.evaluation_url": "Evaluering",
        "pub.field.website": "Hjemmeside", "pub.field.contact_name": "Kontaktperson",
        "pub.field.contact_email": "E-mail", "pub.field.contact_phone": "Telefon",
        "pub.field.sector": "Sektor",
        "pub.initiative.facts": "Fakta", "pub.initiative.contact": "Kontakt",
        "pub.initiative.links": "Links", "pub.initiative.history": "Ændringshistorik",
        "pub.initiative.history.lead": "Hvornår oplysningerne er ændret, og hvilke felter. "
                                       "Hvem der har ændret dem, vises ikke.",
        "pub.initiative.created": "Oprettet i landkortet",
        "pub.initiative.confirmed_nochange": "Bekræftet uden ændringer",
        "pub.initiative.changed": "Ændret",
        "pub.initiative.unconfirmed": "Oplysningerne er ikke bekræftet ved seneste årlige "
                                      "opfølgning og kan være forældede.",
        "pub.initiative.needs_contact": "Vi mangler en ny kontaktperson for dette initiativ. "
                                        "Kender du den rette, så skriv til os.",
        "pub.initiative.update": "Ret eller opdatér dette initiativ",
        "pub.initiative.update.lead": "Er noget forkert eller forældet? Send en rettelse via "
                                      "chatten — en redaktør ser den igennem, før den "
                                      "offentliggøres.",
        "pub.initiative.update.button": "Send en rettelse i chatten",
        "pub.initiative.back": "Tilbage til kataloget",
        "pub.initiative.none": "Ikke oplyst",
        "pub.initiative.contact_private": "Initiativet har en kontaktperson, som ikke har "
                                          "givet lov til at blive vist her.",
        "pub.initiative.date": "Dato", "pub.initiative.what": "Hvad",
        "pub.notfound.title": "Siden findes ikke",
        "pub.notfound.lead": "Vi kan ikke finde et initiativ med denne adresse. Det kan være "
                             "fjernet eller have skiftet navn.",
        "pub.stats.title": "Statistik",
        "pub.stats.lead": "MedComs nøgletal for Det telemedicinske landkort, beregnet ud fra "
                          "alle offentliggjorte initiativer. Hver figur har en tabel med de "
                          "samme tal.",
        "pub.stats.total": "initiativer i alt", "pub.stats.ongoing": "Igangværende",
        "pub.stats.ended": "Afsluttede", "pub.stats.cross": "Tværsektorielle",
        "pub.stats.mono": "Monosektorielle",
        "pub.stats.status": "Initiativer fordelt på status",
        "pub.stats.status.desc": "Antal og andel af initiativer i hver status.",
        "pub.stats.ongoing_ended": "Igangværende og afsluttede initiativer",
        "pub.stats.ongoing_ended.desc": "Igangværende er projekter, initiativer under "
                                        "udbredelse og initiativer i drift.",
        "pub.stats.participants": "Deltagere",
        "pub.stats.participants.desc": "Hvor mange initiativer hver type deltager indgår i. "
                                       "Et initiativ kan have flere deltagere, så andelene "
                                       "summerer til mere end 100 %.",
        "pub.stats.sectors": "Mono- og tværsektorielle initiativer",
        "pub.stats.sectors.desc": "Monosektorielle initiativer har én type deltager; "
                                  "tværsektorielle har to eller tre.",
        "pub.stats.sector_combos": "Sektorkombinationer",
        "pub.stats.sector_combos.desc": "Hvilke deltagere der arbejder sammen.",
        "pub.stats.regions": "Initiativer pr. region",
        "pub.stats.regions.desc": "Et initiativ kan dække flere regioner, så andelene "
                                  "summerer til mere end 100 %.",
        "pub.stats.years": "Initiativer pr. startår",
        "pub.stats.years.desc": "Antal initiativer efter det år, de startede. Initiativer "
                                "uden startdato er ikke med.",
        "pub.stats.no_year": "uden startdato",
        "pub.stats.table": "Tal", "pub.stats.count": "Antal", "pub.stats.share": "Andel",
        "pub.stats.category": "Kategori", "pub.stats.year": "År",
        "pub.stats.empty": "Der er endnu ingen offentliggjorte initiativer.",
        "pub.stats.download": "Tallene som JSON",
        "pub.stats.unknown_share": "Ikke oplyst",
        "pub.map.title": "Kort over initiativer",
        "pub.map.lead": "Regionerne er farvet efter, hvor mange initiativer der dækker dem; "
                        "cirklerne viser kommunerne. Klik på en region eller kommune for at se "
                        "dens initiativer.",
        "pub.map.desc": "Kort over Danmarks fem regioner farvet efter antal initiativer og de "
                        "98 kommuner som cirkler, hvis størrelse viser antal initiativer.",
        "pub.map.legend.regions": "Initiativer pr. region",
        "pub.map.legend.municipalities": "Initiativer pr. kommune",
        "pub.map.capital": "Hovedstadsområdet",
        "pub.map.bornholm": "Bornholm",
        "pub.map.table.regions": "Regioner", "pub.map.table.municipalities": "Kommuner",
        "pub.map.table.show": "Tallene bag kortet",
        "pub.map.note": "Kortet er forenklet. Initiativer, der dækker hele landet eller ikke "
                        "har angivet kommuner, tæller kun med i regionerne.",
        "pub.api.title": "Åbne data og API",
        "pub.api.lead": "Alle offentliggjorte oplysninger kan hentes frit som JSON og CSV. "
                        "Filtrene er de samme som i kataloget.",
        "pub.api.endpoints": "Adresser", "pub.api.endpoint": "Adresse",
        "pub.api.what": "Indhold", "pub.api.params": "Parametre",
        "pub.api.list": "Initiativer, side for side (limit, offset) med filtre.",
        "pub.api.one": "Ét initiativ.",
        "pub.api.stats": "Statistikken som tal.",
        "pub.api.csv": "Alle initiativer (med filtre) som CSV til Excel: UTF-8, semikolon "
                       "mellem flere værdier.",
        "pub.api.openapi": "Maskinlæsbar beskrivelse (OpenAPI 3.1).",
        "pub.api.example": "Eksempel",
        "pub.api.fields": "Felter (JSON og CSV)",
        "pub.footer.api": "Åbne data og API",
    },
    "en": {
        "pub.catalogue.title": "Telemedicine initiatives in Denmark",
        "pub.catalogue.lead": "The Danish telemedicine map lists telemedicine projects and "
                              "services in regions, municipalities and general practice. "
                              "Search, filter and share the link to your selection.",
        "pub.search": "Search", "pub.search.label": "Search title, description, organisation, "
                                                    "patient groups, technology, "
                                                    "municipalities and regions",
        "pub.search.placeholder": "e.g. COPD, heart failure, video",
        "pub.filters": "Filters", "pub.filter.apply": "Show results",
        "pub.filter.clear": "Clear all filters", "pub.filter.any": "All",
        "pub.filter.status": "Status", "pub.filter.region": "Region",
        "pub.filter.municipality": "Municipality", "pub.filter.participant": "Participants",
        "pub.filter.patient_group": "Patient group", "pub.filter.technology": "Technology",
        "pub.filter.sector": "Sector", "pub.filter.q": "Search",
        "pub.filter.remove": "Remove filter",
        "pub.did_you_mean": "Did you mean",
        "pub.api.years": "The figures year by year on the counting day (CSV with ?format=csv).",
        "pub.api.excel": "Every field for Excel: semicolons, named columns.",
        "pub.api.feed": "New and changed initiatives as an Atom feed.",
        "pub.stats.as_of": "Figures as of", "pub.stats.today": "today",
        "pub.stats.show": "Show", "pub.stats.counted": "Counted on",
        "pub.stats.years_title": "The years side by side",
        "pub.stats.years_desc": "The figures counted on the same day every year, from the "
                                "initiatives' history.",
        "pub.stats.counted_col": "Counted on", "pub.stats.col_total": "Total",
        "pub.stats.new": "New since the year before",
        "pub.stats.newly_ended": "Ended since the year before",
        "pub.stats.years_json": "The years as JSON", "pub.stats.years_csv": "The years as CSV",
        "pub.updated": "The map was last updated",
        "pub.sort": "Sort", "pub.sort.title": "Title (A–Z)",
        "pub.sort.updated": "Recently changed", "pub.sort.confirmed": "Recently confirmed",
        "pub.sort.start": "Newest start date",
        "pub.results.none": "No initiatives match your search.",
        "pub.results.none.hint": "Try fewer filters or another search word.",
        "pub.results.showing": "Showing", "pub.results.of": "of",
        "pub.results.found": "initiatives found", "pub.results.found1": "initiative found",
        "pub.page.previous": "Previous", "pub.page.next": "Next", "pub.page": "Page",
        "pub.paging": "Pages",
        "pub.last_confirmed": "Last confirmed", "pub.never_confirmed": "Not confirmed yet",
        "pub.download.excel": "Download for Excel", "pub.download.csv": "CSV (data)",
        "pub.download.json": "JSON (API)",
        "pub.unknown": "Not stated",
        "pub.field.title": "Title", "pub.field.description": "Description",
        "pub.field.status": "Status", "pub.field.participants": "Participants",
        "pub.field.regions": "Regions", "pub.field.municipalities": "Municipalities",
        "pub.field.organisation": "Organisation", "pub.field.patient_groups": "Patient groups",
        "pub.field.technology": "Technology", "pub.field.start_date": "Start date",
        "pub.field.end_date": "End date", "pub.field.evaluation_url": "Evaluation",
        "pub.field.website": "Website", "pub.field.contact_name": "Contact person",
        "pub.field.contact_email": "E-mail", "pub.field.contact_phone": "Phone",
        "pub.field.sector": "Sector",
        "pub.initiative.facts": "Facts", "pub.initiative.contact": "Contact",
        "pub.initiative.links": "Links", "pub.initiative.history": "Change history",
        "pub.initiative.history.lead": "When the information changed, and which fields. Who "
                                       "changed it is not shown.",
        "pub.initiative.created": "Added to the map",
        "pub.initiative.confirmed_nochange": "Confirmed without changes",
        "pub.initiative.changed": "Changed",
        "pub.initiative.unconfirmed": "This information was not confirmed at the latest "
                                      "yearly follow-up and may be out of date.",
        "pub.initiative.needs_contact": "We need a new contact person for this initiative. "
                                        "If you know who it is, please tell us.",
        "pub.initiative.update": "Correct or update this initiative",
        "pub.initiative.update.lead": "Is something wrong or out of date? Send a correction "
                                      "through the chat — an editor reviews it before it is "
                                      "published.",
        "pub.initiative.update.button": "Send a correction in the chat",
        "pub.initiative.back": "Back to the catalogue",
        "pub.initiative.none": "Not stated",
        "pub.initiative.contact_private": "The initiative has a contact person who has not "
                                          "agreed to be shown here.",
        "pub.initiative.date": "Date", "pub.initiative.what": "What",
        "pub.notfound.title": "Page not found",
        "pub.notfound.lead": "We cannot find an initiative at this address. It may have been "
                             "removed or renamed.",
        "pub.stats.title": "Statistics",
        "pub.stats.lead": "MedCom's key figures for the Danish telemedicine map, computed from "
                          "every published initiative. Each chart has a table with the same "
                          "numbers.",
        "pub.stats.total": "initiatives in total", "pub.stats.ongoing": "Ongoing",
        "pub.stats.ended": "Ended", "pub.stats.cross": "Cross-sector",
        "pub.stats.mono": "Single-sector",
        "pub.stats.status": "Initiatives by status",
        "pub.stats.status.desc": "Number and share of initiatives in each status.",
        "pub.stats.ongoing_ended": "Ongoing and ended initiatives",
        "pub.stats.ongoing_ended.desc": "Ongoing means projects, initiatives being rolled out "
                                        "and initiatives in operation.",
        "pub.stats.participants": "Participants",
        "pub.stats.participants.desc": "How many initiatives each kind of participant takes "
                                       "part in. An initiative can have several, so shares add "
                                       "up to more than 100%.",
        "pub.stats.sectors": "Single- and cross-sector initiatives",
        "pub.stats.sectors.desc": "Single-sector initiatives have one kind of participant; "
                                  "cross-sector ones have two or three.",
        "pub.stats.sector_combos": "Sector combinations",
        "pub.stats.sector_combos.desc": "Which participants work together.",
        "pub.stats.regions": "Initiatives by region",
        "pub.stats.regions.desc": "An initiative can cover several regions, so shares add up "
                                  "to more than 100%.",
        "pub.stats.years": "Initiatives by start year",
        "pub.stats.years.desc": "Number of initiatives by the year they started. Initiatives "
                                "without a start date are left out.",
        "pub.stats.no_year": "without a start date",
        "pub.stats.table": "Numbers", "pub.stats.count": "Count", "pub.stats.share": "Share",
        "pub.stats.category": "Category", "pub.stats.year": "Year",
        "pub.stats.empty": "There are no published initiatives yet.",
        "pub.stats.download": "The figures as JSON",
        "pub.stats.unknown_share": "Not stated",
        "pub.map.title": "Map of initiatives",
        "pub.map.lead": "Regions are shaded by how many initiatives cover them; circles show "
                        "the municipalities. Select a region or municipality to see its "
                        "initiatives.",
        "pub.map.desc": "Map of Denmark's five regions shaded by number of initiatives, and "
                        "the 98 municipalities as circles sized by number of initiatives.",
        "pub.map.legend.regions": "Initiatives per region",
        "pub.map.legend.municipalities": "Initiatives per municipality",
        "pub.map.capital": "Capital area",
        "pub.map.bornholm": "Bornholm",
        "pub.map.table.regions": "Regions", "pub.map.table.municipalities": "Municipalities",
        "pub.map.table.show": "The numbers behind the map",
        "pub.map.note": "The map is simplified. Initiatives that cover the whole country or "
                        "name no municipalities count in the regions only.",
        "pub.api.title": "Open data and API",
        "pub.api.lead": "Everything published can be downloaded freely as JSON and CSV. The "
                        "filters are the same as in the catalogue.",
        "pub.api.endpoints": "Endpoints", "pub.api.endpoint": "Endpoint",
        "pub.api.what": "Returns", "pub.api.params": "Parameters",
        "pub.api.list": "Initiatives, page by page (limit, offset) with filters.",
        "pub.api.one": "One initiative.",
        "pub.api.stats": "The statistics as numbers.",
        "pub.api.csv": "All initiatives (with filters) as CSV for Excel: UTF-8, several values "
                       "separated by semicolons.",
        "pub.api.openapi": "Machine-readable description (OpenAPI 3.1).",
        "pub.api.example": "Example",
        "pub.api.fields": "Fields (JSON and CSV)",
        "pub.footer.api": "Open data and API",
    },
})
