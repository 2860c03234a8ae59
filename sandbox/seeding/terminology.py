"""
Code tables for the synthetic clinical and claims data, and the embedded RxNorm drug catalog.

Every code below is a real code in the named system (SNOMED CT, ICD-10-CM, LOINC, CVX, CPT, RxNorm,
NUBC, MS-DRG, OMB race and ethnicity). Sensitive entries carry the HL7 v3 ActCode information
sensitivity code that consent rules act on (PSY, HIV, ETH).
"""

import functools
import json
from pathlib import Path

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
OMB = "urn:oid:2.16.840.1.113883.6.238"

CATALOG_PATH = Path(__file__).parent / "data" / "drug_catalog.json"

# name: (SNOMED code, SNOMED display, ICD-10-CM code, ICD-10-CM display, sensitivity or None)
CONDITIONS = {
    "hypertension": ("59621000", "Essential hypertension", "I10", "Essential (primary) hypertension", None),
    "diabetes": (
        "44054006",
        "Diabetes mellitus type 2",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        None,
    ),
    "hyperlipidemia": ("55822004", "Hyperlipidemia", "E78.5", "Hyperlipidemia, unspecified", None),
    "asthma": ("195967001", "Asthma", "J45.909", "Unspecified asthma, uncomplicated", None),
    "hypothyroidism": ("40930008", "Hypothyroidism", "E03.9", "Hypothyroidism, unspecified", None),
    "obesity": ("414916001", "Obesity", "E66.9", "Obesity, unspecified", None),
    "prediabetes": ("15777000", "Prediabetes", "R73.03", "Prediabetes", None),
    "depression": (
        "370143000",
        "Major depressive disorder",
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
        "PSY",
    ),
    "anxiety": ("21897009", "Generalized anxiety disorder", "F41.1", "Generalized anxiety disorder", "PSY"),
    "hiv": (
        "86406008",
        "Human immunodeficiency virus infection",
        "B20",
        "Human immunodeficiency virus [HIV] disease",
        "HIV",
    ),
    "alcohol": ("15167005", "Alcohol abuse", "F10.10", "Alcohol abuse, uncomplicated", "ETH"),
    "bronchitis": ("10509002", "Acute bronchitis", "J20.9", "Acute bronchitis, unspecified", None),
    "sinusitis": ("444814009", "Viral sinusitis", "J01.90", "Acute sinusitis, unspecified", None),
    "back_pain": ("279039007", "Low back pain", "M54.50", "Low back pain, unspecified", None),
    "rhinitis": ("61582004", "Allergic rhinitis", "J30.9", "Allergic rhinitis, unspecified", None),
    "gerd": (
        "235595009",
        "Gastroesophageal reflux disease",
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
        None,
    ),
    "knee_oa": ("239873007", "Osteoarthritis of knee", "M17.9", "Osteoarthritis of knee, unspecified", None),
    "pneumonia": ("233604007", "Pneumonia", "J18.9", "Pneumonia, unspecified organism", None),
    "heart_failure": ("84114007", "Heart failure", "I50.9", "Heart failure, unspecified", None),
}

CHRONIC = (
    "hypertension",
    "diabetes",
    "hyperlipidemia",
    "asthma",
    "hypothyroidism",
    "depression",
    "anxiety",
    "hiv",
    "alcohol",
)
ACUTE = ("bronchitis", "sinusitis", "back_pain", "rhinitis", "gerd")

# Drugs (RxNorm RXCUIs from the catalog) prescribed for a condition; the first is the usual choice.
TREATMENTS = {
    "hypertension": ("314076", "197361", "310798", "979485"),
    "diabetes": ("860975",),
    "hyperlipidemia": ("312961", "314231", "259255"),
    "asthma": ("2123111", "895994"),
    "hypothyroidism": ("966222",),
    "depression": ("312938", "310385"),
    "anxiety": ("596926",),
    "hiv": ("597730",),
    "bronchitis": ("308460", "308192"),
    "sinusitis": ("308192", "562251"),
    "back_pain": ("310965", "198014"),
    "rhinitis": ("1014678", "311372"),
}

SENSITIVITY = {
    "PSY": "psychiatry information sensitivity",
    "HIV": "HIV/AIDS information sensitivity",
    "ETH": "substance abuse information sensitivity",
}

# code: (display, unit, UCUM code, low, high, decimals)
LABS = {
    "2093-3": ("Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 150, 260, 0),
    "2085-9": ("Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 35, 75, 0),
    "13457-7": ("Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL", "mg/dL", 70, 180, 0),
    "2571-8": ("Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 70, 250, 0),
    "4548-4": ("Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 5.0, 9.5, 1),
    "2345-7": ("Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 70, 180, 0),
    "2160-0": ("Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.6, 1.4, 2),
    "3094-0": ("Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 7, 25, 0),
    "2951-2": ("Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 135, 146, 0),
    "2823-3": ("Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.5, 5.1, 1),
    "718-7": ("Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 11.5, 17.0, 1),
    "6690-2": ("Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "10*3/uL", 4.0, 10.5, 1),
    "777-3": ("Platelets [#/volume] in Blood by Automated count", "10*3/uL", "10*3/uL", 150, 400, 0),
    "20447-9": (
        "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection",
        "copies/mL",
        "{copies}/mL",
        20,
        400,
        0,
    ),
    "24467-3": ("CD3+CD4+ (T4 helper) cells [#/volume] in Blood", "cells/uL", "/uL", 350, 1100, 0),
}

# code: (display, member LOINC codes, sensitivity)
PANELS = {
    "57698-3": ("Lipid panel with direct LDL - Serum or Plasma", ("2093-3", "2085-9", "13457-7", "2571-8"), None),
    "51990-0": ("Basic metabolic panel - Blood", ("2345-7", "2160-0", "3094-0", "2951-2", "2823-3"), None),
    "58410-2": ("CBC panel - Blood by Automated count", ("718-7", "6690-2", "777-3"), None),
    "4548-4": ("Hemoglobin A1c/Hemoglobin.total in Blood", ("4548-4",), None),
    "20447-9": (
        "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection",
        ("20447-9", "24467-3"),
        "HIV",
    ),
}

SURVEYS = {
    "44261-6": ("Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]", "{score}", 3, 22, "PSY"),
    "70274-6": ("Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]", "{score}", 3, 18, "PSY"),
}

# code: (display, applies from age, applies up to age, yearly)
IMMUNIZATIONS = {
    "140": ("Influenza, seasonal, injectable, preservative free", 0, 200, True),
    "115": ("Tdap", 11, 200, False),
    "208": ("COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose", 12, 200, False),
    "187": ("zoster vaccine recombinant", 50, 200, False),
    "33": ("pneumococcal polysaccharide vaccine, 23 valent", 65, 200, False),
    "62": ("HPV, quadrivalent", 9, 26, False),
}

# name: (SNOMED code, display, clinical status, category)
ALLERGIES = {
    "penicillin": ("91936005", "Allergy to penicillin", "medication"),
    "peanut": ("91935009", "Allergy to peanuts", "food"),
    "shellfish": ("300913006", "Shellfish allergy", "food"),
    "grass": ("418689008", "Allergy to grass pollen", "environment"),
}

# CPT code: display
CPT_CODES = {
    "99203": "Office or other outpatient visit for the evaluation and management of a new patient",
    "99213": "Office or other outpatient visit for the evaluation and management of an established patient, low",
    "99214": "Office or other outpatient visit for the evaluation and management of an established patient, moderate",
    "99396": "Periodic comprehensive preventive medicine reevaluation, established patient, 40-64 years",
    "99395": "Periodic comprehensive preventive medicine reevaluation, established patient, 18-39 years",
    "99397": "Periodic comprehensive preventive medicine reevaluation, established patient, 65 years and older",
    "99284": "Emergency department visit, moderate severity",
    "99221": "Initial hospital inpatient care",
    "99238": "Hospital discharge day management",
    "90837": "Psychotherapy, 60 minutes with patient",
    "90834": "Psychotherapy, 45 minutes with patient",
    "45378": "Colonoscopy, flexible; diagnostic",
    "77067": "Screening mammography, bilateral",
    "93000": "Electrocardiogram, routine ECG with at least 12 leads; with interpretation and report",
    "71046": "Radiologic examination, chest; 2 views",
    "27447": "Arthroplasty, knee, condyle and plateau; medial and lateral compartments",
    "73721": "Magnetic resonance imaging, any joint of lower extremity; without contrast material",
    "95810": "Polysomnography; age 6 years or older, sleep staging with 4 or more additional parameters",
    "97110": "Therapeutic procedure, 1 or more areas, each 15 minutes; therapeutic exercises",
    "80061": "Lipid panel",
    "80048": "Basic metabolic panel",
    "85025": "Blood count; complete (CBC), automated and automated differential WBC count",
    "83036": "Hemoglobin; glycosylated (A1C)",
    "87536": "Infectious agent detection by nucleic acid; HIV-1, quantification",
    "90471": "Immunization administration; 1 vaccine",
}

PANEL_CPT = {"57698-3": "80061", "51990-0": "80048", "58410-2": "85025", "4548-4": "83036", "20447-9": "87536"}

# Procedures recorded as Procedure resources: key: (CPT, SNOMED code, SNOMED display, sensitivity)
PROCEDURES = {
    "colonoscopy": ("45378", "73761001", "Colonoscopy", None),
    "mammography": ("77067", "24623002", "Screening mammography", None),
    "ecg": ("93000", "29303009", "Electrocardiographic procedure", None),
    "chest_xray": ("71046", "399208008", "Plain chest X-ray", None),
    "psychotherapy": ("90837", "75516001", "Psychotherapy", "PSY"),
    "knee_replacement": ("27447", "609588000", "Total knee replacement", None),
}

# MS-DRG: (display, principal condition)
DRGS = {
    "194": ("Simple pneumonia and pleurisy with CC", "pneumonia"),
    "291": ("Heart failure and shock with MCC", "heart_failure"),
    "470": ("Major hip and knee joint replacement or reattachment of lower extremity without MCC", "knee_oa"),
}

RACES = (
    ("2106-3", "White", 60),
    ("2054-5", "Black or African American", 14),
    ("2028-9", "Asian", 7),
    ("1002-5", "American Indian or Alaska Native", 2),
    ("2076-8", "Native Hawaiian or Other Pacific Islander", 1),
    ("2131-1", "Other Race", 16),
)
ETHNICITIES = (("2135-2", "Hispanic or Latino", 19), ("2186-5", "Not Hispanic or Latino", 81))

GIVEN_FEMALE = (
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Sandra",
    "Margaret",
    "Ashley",
    "Kimberly",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Rebecca",
    "Laura",
    "Sharon",
    "Cynthia",
    "Kathleen",
    "Amy",
    "Angela",
    "Anna",
    "Brenda",
    "Emma",
    "Olivia",
    "Sophia",
    "Maria",
    "Rosa",
    "Mei",
)
GIVEN_MALE = (
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Christopher",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Donald",
    "Steven",
    "Andrew",
    "Paul",
    "Joshua",
    "Kenneth",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Ronald",
    "Jason",
    "Edward",
    "Jeffrey",
    "Ryan",
    "Jacob",
    "Gary",
    "Nicholas",
    "Eric",
    "Jonathan",
    "Carlos",
    "Luis",
    "Wei",
    "Omar",
    "Samuel",
)
FAMILY_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Patel",
    "Kim",
    "Murphy",
    "Cook",
    "Rogers",
    "Morgan",
    "Cooper",
    "Peterson",
    "Reed",
    "Bailey",
)
STREETS = (
    "Main Street",
    "Oak Avenue",
    "Maple Street",
    "Elm Street",
    "Park Avenue",
    "Washington Street",
    "Church Street",
    "High Street",
    "Chestnut Street",
    "Prospect Avenue",
    "Farmington Avenue",
    "Asylum Avenue",
    "Whitney Avenue",
    "State Street",
    "Broad Street",
    "Franklin Avenue",
    "Wethersfield Avenue",
    "Chapel Street",
    "Orange Street",
    "Boston Post Road",
)
# Connecticut cities with one of their real ZIP codes: the coverage area of every synthetic payer.
CITIES = (
    ("Hartford", "06103"),
    ("New Haven", "06510"),
    ("Stamford", "06901"),
    ("Bridgeport", "06604"),
    ("Waterbury", "06702"),
    ("Norwalk", "06850"),
    ("Danbury", "06810"),
    ("New Britain", "06051"),
    ("Middletown", "06457"),
    ("Greenwich", "06830"),
    ("West Hartford", "06107"),
    ("Meriden", "06450"),
)
STATE = "CT"
AREA_CODES = ("860", "203", "475", "959")

PRACTITIONER_SPECIALTIES = (
    # NUCC taxonomy code, display
    ("207Q00000X", "Family Medicine"),
    ("207R00000X", "Internal Medicine"),
    ("208000000X", "Pediatrics"),
    ("2084P0800X", "Psychiatry"),
    ("207RC0000X", "Cardiovascular Disease"),
    ("207X00000X", "Orthopaedic Surgery"),
    ("207RI0200X", "Infectious Disease"),
    ("207V00000X", "Obstetrics & Gynecology"),
)


@functools.cache
def drug_catalog() -> tuple[dict, ...]:
    """The embedded RxNorm drug catalog (data/drug_catalog.json), sorted by RXCUI."""
    with CATALOG_PATH.open(encoding="utf-8") as handle:
        return tuple(json.load(handle)["drugs"])


@functools.cache
def drugs_by_rxcui() -> dict[str, dict]:
    return {drug["rxcui"]: drug for drug in drug_catalog()}
