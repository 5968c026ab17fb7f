"""Demo registry data: 41 realistic Danish telemedicine initiatives.

The entries are invented but written the way entries in Det telemedicinske landkort
read: every region, every status, single-sector entries and each cross-sector
combination, organisations from regions, hospitals, municipalities and general
practice. The set deliberately holds what the service must cope with:

* four near-duplicates (the same initiative entered twice, with a slightly different
  title or organisation), for the duplicate finder and merging;
* eight stale entries (confirmed more than a year ago, or never), for the campaign;
* gaps: entries without status, without a contact e-mail, without municipalities;
* contacts who answer for several entries, and contacts who read English.

Contacts use only example.dk and example.org addresses. The data is fixed (no
randomness); confirmation times are relative to the moment of seeding. Every value is
what :func:`bot.registry.fields.normalise` makes of its own
:func:`~bot.registry.fields.format_value`
(tests/test_demo_data.py proves it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text, update

from bot.core.db import Database, dbnow
from bot.registry.models import Contact
from bot.registry.repository import apply_changes, count_initiatives, create_initiative

DEMO_LOCK_KEY = 0x64656D6F  # "demo": serialises concurrent seeding on PostgreSQL


@dataclass(frozen=True)
class DemoContact:
    name: str
    email: str | None
    phone: str | None
    language: str = "da"


CONTACTS: dict[str, DemoContact] = {
    "mette": DemoContact("Mette Kjær", "mette.kjaer@example.dk", "+4523456701"),
    "jens": DemoContact("Jens Thomsen", "jens.thomsen@example.dk", "+4523456702"),
    "henrik": DemoContact("Henrik Mortensen", "henrik.mortensen@example.dk", "+4523456703"),
    "pia": DemoContact("Pia Andersen", "pia.andersen@example.dk", None),
    "sofie": DemoContact("Sofie Lund Nielsen", "sofie.nielsen@example.dk", "+4523456705"),
    "lars": DemoContact("Lars Bech", "lars.bech@example.dk", "+4523456706"),
    "karen": DemoContact("Karen Vestergaard", "karen.vestergaard@example.dk", "+4523456707"),
    "sarah": DemoContact("Sarah Miller", "sarah.miller@example.org", "+4523456708", "en"),
    "niels": DemoContact("Niels Rasmussen", "niels.rasmussen@example.dk", "+4523456709"),
    "birgitte": DemoContact("Birgitte Holm", "birgitte.holm@example.dk", "+4523456710"),
    "anne": DemoContact("Anne Marie Poulsen", "anne.poulsen@example.dk", "+4523456711"),
    "thomas": DemoContact("Thomas Kristensen", "thomas.kristensen@example.dk", None),
    "camilla": DemoContact("Camilla Friis", "camilla.friis@example.dk", "+4523456713"),
    "james": DemoContact("James Carter", "james.carter@example.org", "+4523456714", "en"),
    "louise": DemoContact("Louise Dahl", "louise.dahl@example.dk", "+4523456715"),
    "peter": DemoContact("Peter Skov", "peter.skov@example.dk", "+4523456716"),
    "olivia": DemoContact("Olivia Brown", "olivia.brown@example.org", None, "en"),
    "rikke": DemoContact("Rikke Juhl", "rikke.juhl@example.dk", "+4523456718"),
    "morten": DemoContact("Morten Bak", "morten.bak@example.dk", "+4523456719"),
    "hanne": DemoContact("Hanne Lindberg", "hanne.lindberg@example.dk", "+4523456720"),
    "erik": DemoContact("Erik Lauritsen", "erik.lauritsen@example.dk", "+4523456721"),
    "maja": DemoContact("Maja Sørensen", "maja.sorensen@example.dk", "+4523456722"),
    # Contacts without an e-mail address: the moderators have a name, nothing more.
    "ole": DemoContact("Ole Frandsen", None, "+4523456723"),
    "grethe": DemoContact("Grethe Møller", None, None),
}

NORDJYLLAND_ALL = ["Aalborg", "Brønderslev", "Frederikshavn", "Hjørring", "Jammerbugt", "Læsø",
                   "Mariagerfjord", "Morsø", "Rebild", "Thisted", "Vesthimmerland"]


# Days after registration that a grown demo entry left the project stage.
GROWN_AFTER_DAYS = 365
HOME_DEVICES = frozenset({"Pulsoximeter", "Blodtryksmåler", "Vægt", "Blodsukkermåler",
                          "Glukosesensor", "Peak flow-måler", "Vitale værdier", "Hjemmetest"})
SURVEY_TOOLS = frozenset({"Spørgeskema", "App"})


def _entry(title: str, organisation: str, status: str | None, participants: list[str],
           regions: list[str], municipalities: list[str], patient_groups: list[str],
           technology: list[str], start: str | None, end: str | None, contact: str,
           confirmed_days_ago: int | None, description: str, *,
           evaluation: str | None = None, website: str | None = None,
           pro: list[str] | None = None, experiences: str | None = None) -> dict[str, Any]:
    person = CONTACTS[contact]
    if pro is None:  # measuring at home is a PRO home measurement; a survey a questionnaire
        pro = sorted({"hjemmemaaling" for t in technology if t in HOME_DEVICES}
                     | {"spoergeskema" for t in technology if t in SURVEY_TOOLS})
    return {
        "title": title, "description": description, "status": status,
        "participants": sorted(participants), "regions": sorted(regions),
        "municipalities": sorted(municipalities), "organisation": organisation,
        "patient_groups": sorted(patient_groups), "technology": sorted(technology),
        "start_date": start, "end_date": end,
        "contact_name": person.name, "contact_email": person.email,
        "contact_phone": person.phone, "evaluation_url": evaluation, "website": website,
        "pro": pro, "experiences": experiences,
        "evaluation_status": "evalueret" if evaluation else (
            "under_evaluering" if status == "projekt" else None),
        "language": person.language, "confirmed_days_ago": confirmed_days_ago,
    }


E = _entry
DEMO_INITIATIVES: tuple[dict[str, Any], ...] = (
    # --- Region Nordjylland ------------------------------------------------------------
    E("Telemedicinsk KOL i Nordjylland", "Region Nordjylland", "i_drift",
      ["sygehus", "kommune", "almen_praksis"], ["nordjylland"], NORDJYLLAND_ALL,
      ["KOL"], ["Tablet", "Pulsoximeter", "Vægt"], "2016-09", None, "mette", 120,
      "Borgere med svær KOL måler iltmætning, puls og vægt hjemme og besvarer spørgsmål "
      "om symptomer på en tablet. Kommunale sygeplejersker følger målingerne og kontakter "
      "borgeren ved forværring, med sygehuset og egen læge som bagvagt.",
      evaluation="https://example.dk/telekol/evaluering.pdf",
      website="https://example.dk/telekol",
      experiences="Borgerne blev trygge ved målingerne efter to uger; dagligt spørgeskema "
                  "blev for meget for nogle, så vi gik til tre gange om ugen. Færre akutte "
                  "indlæggelser i det første år, og sygeplejerskerne bruger "
                  "mindre tid på kørsel."),
    E("Telemedicin til borgere med hjertesvigt i Nordjylland",
      "Aalborg Universitetshospital", "projekt", ["sygehus", "kommune"], ["nordjylland"],
      ["Aalborg", "Frederikshavn", "Hjørring"], ["Hjertesvigt"],
      ["Blodtryksmåler", "Tablet", "Vægt"], "2023-02", None, "mette", 40,
      "Patienter med hjertesvigt sender dagligt vægt og blodtryk til hjerteambulatoriet. "
      "Projektet afprøver, om telemedicinsk opfølgning kan erstatte en del af de fysiske "
      "kontroller og give færre indlæggelser.",
      website="https://example.dk/aauh/hjertesvigt"),
    E("Videokonsultation i almen praksis i Nordjylland",
      "Praktiserende Lægers Organisation Nordjylland", "i_drift", ["almen_praksis"],
      ["nordjylland"], ["Morsø", "Thisted"], ["Alle patientgrupper"],
      ["Videokonsultation"], "2020-04", None, "henrik", 500,
      "Lægepraksis i Thy og på Mors tilbyder videokonsultation til kontroller og "
      "opfølgende samtaler, så patienter med lang transport kan spare turen."),
    E("Digital genoptræning efter hofteoperation", "Aalborg Kommune", "afsluttet",
      ["kommune"], ["nordjylland"], ["Aalborg"], ["Hoftealloplastik"],
      ["App", "Træningsvideoer"], "2019-01", "2021-06", "pia", 800,
      "Borgere, der har fået ny hofte, træner hjemme efter videoer i en app, og "
      "terapeuten følger op over video en gang om ugen. Projektet er afsluttet og "
      "evalueret.",
      evaluation="https://example.dk/aalborg/hofte-evaluering.pdf"),
    # near-duplicate of "Telemedicinsk KOL i Nordjylland"
    E("TeleKOL Nordjylland", "Region Nordjyllands Center for Telemedicin", "i_drift",
      ["sygehus", "kommune", "almen_praksis"], ["nordjylland"], ["Aalborg", "Hjørring"],
      ["KOL"], ["Tablet", "Pulsoximeter"], "2016-09", None, "jens", None,
      "Telemedicinsk hjemmemonitorering af borgere med KOL i hele Nordjylland. Målinger "
      "fra hjemmet ses af kommunens sygeplejersker."),
    # near-duplicate of "Videokonsultation i almen praksis i Nordjylland"
    E("Videokonsultationer i almen praksis Nordjylland", "PLO Nordjylland", "i_drift",
      ["almen_praksis"], ["nordjylland"], ["Thisted"], ["Alle patientgrupper"],
      ["Videokonsultation"], "2020-03", None, "henrik", 90,
      "Videokonsultation hos egen læge i Nordjylland, især for patienter i yderområder."),
    E("Øjenscreening for diabetes i almen praksis", "Aalborg Universitetshospital",
      "afsluttet", ["almen_praksis", "sygehus"], ["nordjylland"],
      ["Aalborg", "Mariagerfjord", "Rebild", "Vesthimmerland"], ["Diabetes"],
      ["Fundusfotografering", "Billeddeling"], "2020-02", "2023-01", "sofie", 330,
      "Praktiserende læger tog billeder af nethinden hos patienter med diabetes, og "
      "øjenlæger på sygehuset vurderede dem på afstand. Erfaringerne indgår i en "
      "regional løsning.",
      evaluation="https://example.dk/aauh/oejenscreening.pdf"),

    # --- Region Midtjylland ------------------------------------------------------------
    E("Hjemmemonitorering af gravide med forhøjet blodtryk", "Aarhus Universitetshospital",
      "projekt", ["sygehus"], ["midtjylland"], ["Aarhus", "Favrskov", "Skanderborg"],
      ["Gravide med forhøjet blodtryk", "Præeklampsi"], ["App", "Blodtryksmåler"],
      "2022-08", None, "lars", 30,
      "Gravide med forhøjet blodtryk måler blodtryk og urin hjemme og registrerer "
      "målingerne i en app. Jordemødre på Aarhus Universitetshospital følger med og "
      "indkalder ved behov i stedet for faste kontroller.",
      website="https://example.dk/auh/gravide"),
    E("Telepsykiatri for unge i Midtjylland", "Psykiatrien i Region Midtjylland", "i_drift",
      ["sygehus", "kommune"], ["midtjylland"], ["Silkeborg", "Skive", "Viborg"],
      ["Unge med angst", "Unge med depression"], ["Videokonsultation"], "2020-04", None,
      "karen", 200,
      "Unge mellem 15 og 25 år får samtaler med psykiatrien over video, og kommunens "
      "ungevejledere kan deltage. Det giver kortere ventetider og færre aflyste samtaler."),
    E("Sårvurdering via app i hjemmeplejen", "Gødstrup Hospital", "i_drift",
      ["sygehus", "kommune"], ["midtjylland"],
      ["Herning", "Holstebro", "Ikast-Brande", "Ringkøbing-Skjern"],
      ["Kroniske sår", "Diabetiske fodsår"], ["App", "Billeddeling"], "2018-05", None,
      "niels", 300,
      "Hjemmesygeplejersker fotograferer kroniske sår med en app, og sårsygeplejersker "
      "på hospitalet vurderer billederne og giver behandlingsforslag samme dag.",
      evaluation="https://example.dk/goedstrup/saar-evaluering.pdf"),
    # near-duplicate of "Sårvurdering via app i hjemmeplejen"
    E("Telemedicinsk sårvurdering i Vestjylland", "Regionshospitalet Gødstrup",
      "under_udbredelse", ["sygehus", "kommune"], ["midtjylland"], ["Herning", "Holstebro"],
      ["Kroniske sår"], ["Billeddeling"], "2018-05", None, "birgitte", 700,
      "Sårbilleder fra hjemmeplejen vurderes af hospitalets sårteam."),
    E("Virtuelt diabetesambulatorium for børn og unge", "Regionshospitalet Randers",
      "under_udbredelse", ["sygehus"], ["midtjylland"], ["Norddjurs", "Randers", "Syddjurs"],
      ["Børn med type 1-diabetes"], ["Glukosesensor", "Videokonsultation"], "2021-01", None,
      "anne", 90,
      "Børn og unge med type 1-diabetes deler data fra deres glukosesensor med "
      "ambulatoriet og har hver anden kontrol over video."),
    E("Telerehabilitering af hjertepatienter", "Horsens Kommune", "projekt",
      ["kommune", "almen_praksis"], ["midtjylland"], ["Hedensted", "Horsens"],
      ["Hjertepatienter"], ["Aktivitetsmåler", "App"], "2023-10", None, "thomas", 60,
      "Borgere, der har haft en blodprop i hjertet, træner hjemme med aktivitetsmåler. "
      "Kommunens terapeuter og egen læge ser de samme data."),
    E("Fælles telemedicinsk løsning for KOL i Midtjylland", "Region Midtjylland", "i_drift",
      ["sygehus", "kommune", "almen_praksis"], ["midtjylland"], [], ["KOL"],
      ["Pulsoximeter", "Tablet"], "2019-04", None, "karen", 160,
      "Den fælles regionale løsning for telemedicin til borgere med KOL, drevet af "
      "regionen og de 19 kommuner i fællesskab.",
      website="https://example.dk/rm/telekol"),
    E("Videobaseret fysioterapi efter knæalloplastik", "Regionshospitalet Silkeborg",
      "afsluttet", ["sygehus", "kommune"], ["midtjylland"], ["Silkeborg", "Skanderborg"],
      ["Knæalloplastik"], ["Videokonsultation"], "2019-08", "2022-06", "lars", 300,
      "Patienter med nyt knæ fik en del af genoptræningen over video. Projektet viste "
      "samme effekt som fremmødetræning.",
      evaluation="https://example.dk/silkeborg/knae.pdf"),

    # --- Region Syddanmark -------------------------------------------------------------
    E("Telemedicinsk graviditetsforløb", "Odense Universitetshospital", "i_drift",
      ["sygehus", "almen_praksis"], ["syddanmark"], ["Assens", "Nordfyns", "Odense"],
      ["Gravide med diabetes"], ["App", "Blodsukkermåler"], "2017-10", None, "sarah", 150,
      "Gravide med diabetes sender blodsukkerværdier fra hjemmet. Obstetrikere og "
      "egen læge følger forløbet, og antallet af fremmøder er halveret.",
      evaluation="https://example.dk/ouh/graviditet-evaluering.pdf",
      website="https://example.dk/ouh/graviditet"),
    E("Telemedicinsk hjemmemonitorering af KOL i Syddanmark", "Region Syddanmark",
      "under_udbredelse", ["sygehus", "kommune", "almen_praksis"], ["syddanmark"],
      ["Esbjerg", "Kolding", "Odense", "Svendborg", "Sønderborg", "Vejle"], ["KOL"],
      ["Pulsoximeter", "Tablet"], "2020-09", None, "sarah", 45,
      "Udbredelse af hjemmemonitorering til alle borgere med svær KOL i regionen, "
      "efter en national beslutning om telemedicin til KOL."),
    E("Videotolkning på sygehuse", "Region Syddanmark", "i_drift", ["sygehus"],
      ["syddanmark"], [], ["Patienter med behov for tolk"], ["Videotolkning"], "2015-03",
      None, "peter", 1000,
      "Tolke deltager over video i samtaler på sygehusene, så tolkning kan bestilles "
      "med kort varsel og uden transporttid."),
    E("Digital rehabilitering efter kræft", "Esbjerg Kommune", "projekt", ["kommune"],
      ["syddanmark"], ["Esbjerg", "Fanø", "Varde"], ["Kræftpatienter"],
      ["App", "Videokonsultation"], "2024-01", None, "rikke", 10,
      "Borgere i rehabilitering efter kræft får holdtræning og samtaler over video "
      "og et forløb i en app."),
    E("Akutteam med video til plejecentre", "Sygehus Sønderjylland", None,
      ["sygehus", "kommune"], ["syddanmark"], ["Aabenraa", "Sønderborg"],
      ["Ældre medicinske patienter"], ["Videokonsultation"], "2021-11", None, "morten", 250,
      "Plejepersonale kan ringe op til sygehusets akutlæge på video, når en beboer "
      "bliver dårlig, så unødvendige indlæggelser undgås."),
    E("Virtuel lægekonsultation på Ærø", "Ærø Kommune", "afsluttet",
      ["almen_praksis", "sygehus"], ["syddanmark"], ["Svendborg", "Ærø"],
      ["Alle patientgrupper"], ["Videokonsultation"], "2018-03", "2022-12", "hanne", 320,
      "Borgere på Ærø kunne få konsultation med speciallæger på Svendborg Sygehus fra "
      "lægehuset, med egen læge til stede."),
    E("Telemedicinsk opfølgning af børn med astma", "Sygehus Lillebælt",
      "under_udbredelse", ["sygehus", "almen_praksis"], ["syddanmark"],
      ["Fredericia", "Kolding", "Vejle"], ["Børn med astma"], ["App", "Peak flow-måler"],
      "2022-01", None, "morten", 210,
      "Forældre registrerer barnets symptomer og peak flow i en app. Børneafdelingen og "
      "egen læge ser de samme data og justerer behandlingen."),
    E("Virtuel hjemmesygepleje om natten", "Odense Kommune", "i_drift", ["kommune"],
      ["syddanmark"], ["Odense"], ["Hjemmeboende ældre"], ["Skærmbesøg"], "2021-09", None,
      "ole", 35,
      "Nattevagten i hjemmeplejen ser til borgere via skærmbesøg, når et fysisk besøg "
      "ikke er nødvendigt."),
    E("Digital ambulant opfølgning på leddegigt", "Vejle Sygehus", "i_drift",
      ["sygehus", "almen_praksis"], ["syddanmark"], ["Billund", "Vejle"], ["Leddegigt"],
      ["Spørgeskema", "Videokonsultation"], "2019-02", None, "erik", 270,
      "Patienter med stabil leddegigt udfylder et spørgeskema hjemme før hver kontrol. "
      "Kun de patienter, der har brug for det, kaldes ind."),

    # --- Region Sjælland ---------------------------------------------------------------
    E("Telemedicinsk hjertesvigtsklinik i Region Sjælland", "Sjællands Universitetshospital",
      "i_drift", ["sygehus", "kommune"], ["sjaelland"], ["Greve", "Køge", "Roskilde", "Solrød"],
      ["Hjertesvigt"], ["Blodtryksmåler", "Tablet", "Vægt"], "2019-11", None, "camilla", 100,
      "Patienter med hjertesvigt måler vægt, blodtryk og puls hjemme. Hjerteklinikken "
      "justerer medicin på baggrund af målingerne, og kommunen hjælper borgere, der har "
      "brug for det.",
      evaluation="https://example.dk/suh/hjertesvigt-evaluering.pdf"),
    # near-duplicate of "Telemedicinsk hjertesvigtsklinik i Region Sjælland"
    E("Telemedicinsk hjertesvigtklinik Region Sjælland", "SUH Roskilde", "i_drift",
      ["sygehus", "kommune"], ["sjaelland"], ["Roskilde"], ["Hjertesvigt"],
      ["Tablet", "Vægt"], "2019-11", None, "louise", None,
      "Hjemmemonitorering af patienter med hjertesvigt fra hjerteklinikken i Roskilde."),
    E("Digital hjemmetræning for borgere med KOL", "Næstved Kommune", "afsluttet",
      ["kommune"], ["sjaelland"], ["Næstved", "Vordingborg"], ["KOL"],
      ["Tablet", "Træningsvideoer"], "2017-01", "2019-12", "maja", 900,
      "Borgere med KOL trænede hjemme på tablet med en fysioterapeut på video i stedet "
      "for at møde op på træningscentret."),
    E("Telepsykiatrisk konsultation i almen praksis", "Psykiatrien Region Sjælland",
      "projekt", ["sygehus", "almen_praksis"], ["sjaelland"],
      ["Ringsted", "Slagelse", "Sorø"], ["Patienter med psykiske lidelser"],
      ["Videokonsultation"], "2023-09", None, "olivia", 20,
      "Praktiserende læger kan få en psykiater med på video under konsultationen og "
      "dermed undgå en del henvisninger."),
    E("Medicinhåndtering med skærmbesøg", "Holbæk Kommune", "i_drift", ["kommune"],
      ["sjaelland"], ["Holbæk", "Kalundborg", "Odsherred"], ["Hjemmeboende ældre"],
      ["Skærmbesøg"], "2016-02", None, "maja", 330,
      "Borgere, der selv kan tage deres medicin med lidt støtte, får et kort skærmbesøg "
      "fra hjemmeplejen i stedet for et fysisk besøg."),
    E("Telemedicin til borgere med diabetes på Lolland-Falster", "Lolland Kommune",
      "under_udbredelse", ["kommune", "almen_praksis"], ["sjaelland"],
      ["Guldborgsund", "Lolland"], ["Diabetes type 2"], ["Blodsukkermåler", "Tablet"],
      "2021-05", None, "grethe", 180,
      "Borgere med type 2-diabetes deler målinger med kommunens sundhedscenter og egen "
      "læge, og får vejledning over video."),
    E("Telemedicinsk støtte til nybagte forældre", "Roskilde Kommune", "projekt",
      ["kommune", "sygehus"], ["sjaelland"], ["Lejre", "Roskilde"], ["Nybagte forældre"],
      ["App", "Videokonsultation"], "2024-09", None, "louise", 12,
      "Sundhedsplejersker og fødeafdelingen tilbyder samtaler over video i de første "
      "uger efter fødslen."),

    # --- Region Hovedstaden ------------------------------------------------------------
    E("Videokonsultationer i ambulatorier", "Rigshospitalet", "i_drift", ["sygehus"],
      ["hovedstaden"], [], ["Ambulante patienter"], ["Videokonsultation"], "2020-03", None,
      "james", 75,
      "Ambulatorier på Rigshospitalet tilbyder videokonsultation til kontroller, hvor "
      "en fysisk undersøgelse ikke er nødvendig.",
      website="https://example.dk/rh/video"),
    E("Hjemmemonitorering af KOL-patienter i Region Hovedstaden", "Bispebjerg Hospital",
      "under_udbredelse", ["sygehus", "kommune"], ["hovedstaden"],
      ["Frederiksberg", "Gentofte", "København"], ["KOL"], ["Pulsoximeter", "Tablet"],
      "2021-10", None, "camilla", 140,
      "Udbredelse af telemedicinsk hjemmemonitorering til borgere med KOL i samarbejde "
      "med kommunernes sundhedscentre."),
    E("Digital opfølgning efter hjerteoperation", "Rigshospitalet", "projekt",
      ["sygehus", "kommune"], ["hovedstaden"], ["Dragør", "København", "Tårnby"],
      ["Hjertepatienter"], ["App", "Pulsoximeter"], "2024-03", None, "james", 15,
      "Patienter sendes tidligere hjem efter hjerteoperation og følges med daglige "
      "målinger og en app, hvor de kan skrive til afdelingen."),
    E("Telemedicin i hjemmeplejen på Bornholm", "Bornholms Regionskommune", "i_drift",
      ["kommune", "sygehus", "almen_praksis"], ["hovedstaden"], ["Bornholm"],
      ["Kronisk syge"], ["Tablet", "Videokonsultation"], "2014-06", None, "jens", 340,
      "Hjemmeplejen på Bornholm bruger video til at inddrage Bornholms Hospital og "
      "øens praktiserende læger, når en borger bliver dårlig."),
    E("Internetbaseret behandling af depression", "Region Hovedstadens Psykiatri",
      "i_drift", ["sygehus"],
      ["hovedstaden", "midtjylland", "nordjylland", "sjaelland", "syddanmark"], [],
      ["Depression", "Let til moderat angst"], ["Internetbehandling"], "2018-01", None,
      "birgitte", 60,
      "Et landsdækkende tilbud om internetbaseret kognitiv adfærdsterapi med støtte fra "
      "en psykolog."),
    E("Tidlig opsporing med telemedicin på plejehjem", "Hillerød Kommune", "projekt",
      ["kommune", "almen_praksis"], ["hovedstaden"], ["Gribskov", "Halsnæs", "Hillerød"],
      ["Plejehjemsbeboere"], ["Tablet", "Vitale værdier"], "2022-11", None, "peter", 55,
      "Personalet på plejehjem måler vitale værdier ved mistanke om sygdom og deler dem "
      "med beboerens læge."),
    E("Pleje af kroniske sår via billeddeling", "Herlev og Gentofte Hospital", "afsluttet",
      ["sygehus", "kommune"], ["hovedstaden"], ["Ballerup", "Gladsaxe", "Herlev"],
      ["Kroniske sår"], ["Billeddeling"], "2016-04", "2020-03", "anne", 1200,
      "Hjemmesygeplejersker delte billeder af kroniske sår med hospitalets sårteam. "
      "Løsningen er afløst af en fælles regional sårjournal."),
    E("App til selvmonitorering ved inflammatorisk tarmsygdom", "Hvidovre Hospital", None,
      ["sygehus"], ["hovedstaden"], ["Brøndby", "Hvidovre"],
      ["Crohns sygdom", "Colitis ulcerosa"], ["App", "Hjemmetest"], "2023-06", None,
      "olivia", 100,
      "Patienter tager en afføringsprøve hjemme og svarer på spørgsmål i en app; "
      "ambulatoriet kalder kun ind ved tegn på opblussen."),
    E("Skærmbesøg for borgere med demens", "Frederiksberg Kommune", "projekt",
      ["kommune"], ["hovedstaden"], ["Frederiksberg"], ["Demens"], ["Skærmbesøg"],
      "2024-05", None, "rikke", 5,
      "Pårørende og demenskoordinatorer mødes på skærm med borgeren, som derved kan "
      "blive længere i eget hjem."),

    # --- National ----------------------------------------------------------------------
    E("Telemedicin til hjertesvigt i hele landet", "Danske Regioner", "under_udbredelse",
      ["sygehus", "kommune", "almen_praksis"],
      ["hovedstaden", "midtjylland", "nordjylland", "sjaelland", "syddanmark"], [],
      ["Hjertesvigt"], ["Blodtryksmåler", "Tablet", "Vægt"], "2023-01", None, "erik", 25,
      "National udbredelse af telemedicin til patienter med hjertesvigt, aftalt mellem "
      "regionerne, kommunerne og staten.",
      website="https://example.dk/hjertesvigt-nationalt"),
)

# Titles of entries that are near-duplicates of another (for the tests and the demo text).
NEAR_DUPLICATES: tuple[tuple[str, str], ...] = (
    ("TeleKOL Nordjylland", "Telemedicinsk KOL i Nordjylland"),
    ("Videokonsultationer i almen praksis Nordjylland",
     "Videokonsultation i almen praksis i Nordjylland"),
    ("Telemedicinsk sårvurdering i Vestjylland", "Sårvurdering via app i hjemmeplejen"),
    ("Telemedicinsk hjertesvigtklinik Region Sjælland",
     "Telemedicinsk hjertesvigtsklinik i Region Sjælland"),
)


def demo_records() -> list[dict[str, Any]]:
    """The demo entries as registry records (canonical keys only)."""
    from bot.registry.record import FIELD_KEYS

    return [{k: e[k] for k in FIELD_KEYS} for e in DEMO_INITIATIVES]


async def seed_registry(db: Database) -> int:
    """Load the demo initiatives into an empty registry; returns how many were added.

    Does nothing (returns 0) when the registry already has entries, so it is safe to
    run on every ``landkort demo`` start, and concurrently.
    """
    from bot.registry.record import FIELD_KEYS

    async with db.write() as session:
        if db.is_postgres:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                  {"k": DEMO_LOCK_KEY})
        if await count_initiatives(session, published_only=False):
            return 0
        now = dbnow()
        for entry in DEMO_INITIATIVES:
            days = entry["confirmed_days_ago"]
            confirmed = now - timedelta(days=days) if days is not None else None
            created = now - timedelta(days=(days if days is not None else 900) + 30)
            record = {k: entry[k] for k in FIELD_KEYS}
            # An entry in operation for years began as a project: the history the yearly
            # report counts from shows the change a year after it was registered.
            grew = (entry["status"] in ("i_drift", "under_udbredelse")
                    and now - created > timedelta(days=GROWN_AFTER_DAYS + 100))
            initiative = await create_initiative(
                session, {**record, "status": "projekt"} if grew else record,
                actor="demo", channel="demo", confirmed_at=confirmed, created_at=created,
                language=entry["language"], note="demo data")
            if grew:
                # As if the contact had answered a reminder by mail.
                version = await apply_changes(session, initiative,
                                              {"status": entry["status"]}, actor="demo",
                                              channel="email", note="demo data")
                if version is not None:
                    version.created_at = created + timedelta(days=GROWN_AFTER_DAYS)
        # Most demo contacts said yes to publication; two show the other cases (a "no",
        # and one never asked), whose details the public pages leave out.
        await session.execute(
            update(Contact).where(Contact.email.not_in(DEMO_NOT_PUBLIC))
            .values(publish_consent=True, publish_consent_at=now,
                    publish_consent_source="moderator"))
        await session.execute(
            update(Contact).where(Contact.email == DEMO_NOT_PUBLIC[0])
            .values(publish_consent=False, publish_consent_at=now,
                    publish_consent_source="link"))
    return len(DEMO_INITIATIVES)


DEMO_NOT_PUBLIC = ("pia.andersen@example.dk", "thomas.kristensen@example.dk")


# The demo's address book for outreach (#19): made-up addresses at example domains, one
# of each kind, some in areas the demo entries cover and some where they do not.
DEMO_ADDRESS_BOOK = """Organisation;Type;E-mail;Kommune;Region;Kontaktperson
Tønder Kommune, Sundhed og Ældre;kommune;sundhed@toender.example;Tønder;;
Lolland Kommune, Sundhed;kommune;sundhed@lolland.example;Lolland;;
Læsø Kommune;kommune;borgerservice@laesoe.example;Læsø;;
Odense Kommune, Ældre- og Handicapforvaltningen;kommune;aeldre@odense.example;Odense;;
PLO Nordjylland;almen praksis;plo@nordjylland.example;;Region Nordjylland;
Lægerne på Torvet, Nakskov;almen praksis;laegerne@nakskov.example;Lolland;;Birgit Berg
Sjællands Universitetshospital;sygehus;telemedicin@suh.example;;Region Sjælland;
Regionshospitalet Gødstrup;sygehus;telemedicin@goedstrup.example;;Region Midtjylland;
"""


async def seed_address_book(db: Database) -> int:
    """Load the demo address book once (an address book already there is left alone)."""
    from moderation.address_book import (
        import_address_book,
        organisation_count,
        parse_address_book,
    )

    if await organisation_count(db):
        return 0
    book = parse_address_book(DEMO_ADDRESS_BOOK.encode())
    assert not book.errors, book.errors
    return (await import_address_book(db, book.rows, actor="demo")).added
