/**
 * Word lists behind the demo enforcement notices. Editing them changes every generated file
 * (and the benchmark's cached data: bump GENERATOR_VERSION in generate-notices.ts).
 */

/** Regulators with their share of notices and the notice types each issues (weighted). */
export const REGULATORS = [
  {
    code: 'HSE',
    weight: 60,
    domain: 'safety',
    notices: [
      ['Improvement Notice', 55],
      ['Immediate Prohibition Notice', 25],
      ['Deferred Prohibition Notice', 12],
      ['Crown Improvement Notice', 5],
      ['Crown Prohibition Notice', 3],
    ],
  },
  {
    code: 'EA',
    weight: 22,
    domain: 'environment',
    notices: [
      ['Enforcement Notice', 50],
      ['Suspension Notice', 15],
      ['Works Notice', 20],
      ['Prohibition Notice', 15],
    ],
  },
  {
    code: 'SEPA',
    weight: 6,
    domain: 'environment',
    notices: [
      ['Enforcement Notice', 70],
      ['Variation Notice', 30],
    ],
  },
  {
    code: 'NRW',
    weight: 5,
    domain: 'environment',
    notices: [
      ['Enforcement Notice', 80],
      ['Works Notice', 20],
    ],
  },
  {
    code: 'ORR',
    weight: 4,
    domain: 'safety',
    notices: [
      ['Improvement Notice', 70],
      ['Prohibition Notice', 30],
    ],
  },
  {
    code: 'ONR',
    weight: 3,
    domain: 'safety',
    notices: [
      ['Improvement Notice', 80],
      ['Prohibition Notice', 20],
    ],
  },
] as const;

/** Two-letter code in regulator_id per notice type, e.g. HSE-IN-0001234. */
export const NOTICE_CODES: Record<string, string> = {
  'Improvement Notice': 'IN',
  'Immediate Prohibition Notice': 'PN',
  'Deferred Prohibition Notice': 'DP',
  'Crown Improvement Notice': 'CI',
  'Crown Prohibition Notice': 'CP',
  'Enforcement Notice': 'EN',
  'Suspension Notice': 'SN',
  'Works Notice': 'WN',
  'Prohibition Notice': 'PN',
  'Variation Notice': 'VN',
};

export const NAME_PREFIXES = [
  'Acme',
  'Northern',
  'Pennine',
  'Severn',
  'Thames',
  'Mercia',
  'Albion',
  'Castle',
  'Bridgewater',
  'Riverside',
  'Highland',
  'Summit',
  'Oakwood',
  'Redhill',
  'Kestrel',
  'Falcon',
  'Granite',
  'Harbour',
  'Ironbridge',
  'Lakeland',
  'Meridian',
  'Phoenix',
  'Sovereign',
  'Trident',
  'Valley',
  'Westfield',
  'Yorkshire',
  'Cotswold',
  'Fenland',
  'Brunel',
  'Clyde',
  'Tyne',
  'Wessex',
  'Chiltern',
  'Dales',
  'Humber',
  'Solent',
  'Forth',
  'Avon',
  'Medway',
  'Mendip',
  'Peak',
  'Black Country',
  'Marches',
];

/** Trade words with the SIC code a firm in that trade would register (leading zeros matter). */
export const TRADES: readonly (readonly [string, string])[] = [
  ['Construction', '41201'],
  ['Homes', '41202'],
  ['Scaffolding', '43999'],
  ['Demolition', '43110'],
  ['Roofing', '43910'],
  ['Recycling', '38320'],
  ['Waste Management', '38110'],
  ['Foods', '10890'],
  ['Meats', '10110'],
  ['Farms', '01110'],
  ['Dairies', '01410'],
  ['Logistics', '49410'],
  ['Haulage', '49410'],
  ['Plastics', '22290'],
  ['Metals', '24100'],
  ['Steel Fabrications', '25110'],
  ['Joinery', '16230'],
  ['Timber', '16100'],
  ['Precast', '23610'],
  ['Chemicals', '20130'],
  ['Quarries', '08110'],
  ['Water Services', '36000'],
  ['Energy', '35110'],
  ['Engineering', '71129'],
  ['Rail Services', '52210'],
];

export const COMPANY_SUFFIXES: readonly (readonly [string, number])[] = [
  ['Ltd', 45],
  ['Limited', 25],
  ['PLC', 5],
  ['LLP', 3],
  ['& Sons Ltd', 7],
  ['Group Ltd', 8],
  ['(UK) Ltd', 7],
];

export const FIRST_NAMES = [
  'John',
  'Sarah',
  'David',
  'Priya',
  'Mohammed',
  'Claire',
  'Gareth',
  'Fiona',
  'Tomasz',
  'Aisha',
];
export const SURNAMES = [
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  'Williams',
  'Wilson',
  'Evans',
  'Patel',
  'Khan',
  'Hughes',
  "O'Neill",
  'Campbell',
  'MacDonald',
  'Kowalski',
  'Roberts',
];

/** [postcode area, town, local authority]. */
export const PLACES: readonly (readonly [string, string, string])[] = [
  ['LS', 'Leeds', 'Leeds City Council'],
  ['M', 'Manchester', 'Manchester City Council'],
  ['B', 'Birmingham', 'Birmingham City Council'],
  ['BS', 'Bristol', 'Bristol City Council'],
  ['CF', 'Cardiff', 'Cardiff Council'],
  ['EH', 'Edinburgh', 'City of Edinburgh Council'],
  ['G', 'Glasgow', 'Glasgow City Council'],
  ['NE', 'Newcastle upon Tyne', 'Newcastle City Council'],
  ['S', 'Sheffield', 'Sheffield City Council'],
  ['SO', 'Southampton', 'Southampton City Council'],
  ['PL', 'Plymouth', 'Plymouth City Council'],
  ['NG', 'Nottingham', 'Nottingham City Council'],
  ['LE', 'Leicester', 'Leicester City Council'],
  ['ST', 'Stoke-on-Trent', 'Stoke-on-Trent City Council'],
  ['WV', 'Wolverhampton', 'City of Wolverhampton Council'],
  ['L', 'Liverpool', 'Liverpool City Council'],
  ['PR', 'Preston', 'Preston City Council'],
  ['BD', 'Bradford', 'City of Bradford Metropolitan District Council'],
  ['HU', 'Hull', 'Hull City Council'],
  ['DN', 'Doncaster', 'City of Doncaster Council'],
  ['PE', 'Peterborough', 'Peterborough City Council'],
  ['NR', 'Norwich', 'Norwich City Council'],
  ['IP', 'Ipswich', 'Ipswich Borough Council'],
  ['ME', 'Maidstone', 'Maidstone Borough Council'],
  ['GU', 'Guildford', 'Guildford Borough Council'],
  ['OX', 'Oxford', 'Oxford City Council'],
  ['SN', 'Swindon', 'Swindon Borough Council'],
  ['GL', 'Gloucester', 'Gloucester City Council'],
  ['SA', 'Swansea', 'City and County of Swansea'],
  ['AB', 'Aberdeen', 'Aberdeen City Council'],
  ['DD', 'Dundee', 'Dundee City Council'],
  ['IV', 'Inverness', 'The Highland Council'],
  ['TS', 'Middlesbrough', 'Middlesbrough Council'],
  ['CA', 'Carlisle', 'Cumberland Council'],
];

export const STREETS = [
  'Mill Lane',
  'Station Road',
  'High Street',
  'Church Street',
  'Canal Side',
  'Victoria Road',
  'Wharf Road',
  'Quarry Lane',
  'Foundry Street',
  'Park Road',
  'Dock Street',
  'Moor Lane',
];
export const ESTATES = [
  'Riverside Industrial Estate',
  'Parkway Business Park',
  'Northgate Trading Estate',
  'Meadow Lane Works',
  'Enterprise Park',
  'Junction 25 Distribution Centre',
];

/** Letters allowed in the inward code of a UK postcode (no C, I, K, M, O or V). */
export const POSTCODE_LETTERS = 'ABDEFGHJLNPQRSTUWXYZ';

export const SAFETY_SENTENCES = [
  'Failure to prevent falls from height during {task}, contrary to Regulation 4(1) of the Work at Height Regulations 2005.',
  'Inadequate guarding on the {machine}; operators exposed to dangerous moving parts.',
  'No suitable and sufficient risk assessment for {hazard}, contrary to Regulation 3 of the Management of Health and Safety at Work Regulations 1999.',
  'Employees exposed to {hazard} without adequate control measures.',
  'Lifting operations with the {machine} were not properly planned, supervised or carried out safely.',
  'Traffic routes at the site did not allow pedestrians and vehicles to circulate safely.',
];
export const ENVIRONMENT_SENTENCES = [
  'Discharge of {substance} to the {river} exceeding the limits of the environmental permit.',
  'Waste stored at the site not in accordance with permit {permit}.',
  'Failure to maintain pollution control measures; {substance} found in surface water drains.',
  'Odour from the site caused a nuisance to nearby residents, in breach of permit {permit}.',
  'Operating a regulated facility without an environmental permit.',
];
export const TASKS = [
  'roof repairs',
  'scaffold erection',
  'cleaning of gutters',
  'loading of trailers',
  'work on fragile roof sheets',
];
export const MACHINES = [
  'bandsaw',
  'power press',
  'conveyor',
  'forklift truck',
  'overhead crane',
  'circular saw',
];
export const HAZARDS = [
  'silica dust',
  'asbestos',
  'hand-arm vibration',
  'noise',
  'isocyanate paints',
  'wood dust',
  'legionella',
];
export const SUBSTANCES = [
  'sewage effluent',
  'silage liquor',
  'diesel',
  'leachate',
  'slurry',
  'cement washings',
];
export const RIVERS = [
  'River Aire',
  'River Trent',
  'River Severn',
  'River Tyne',
  'River Clyde',
  'River Taff',
  'River Ouse',
];
export const QUOTES = [
  'no edge protection on the scaffold',
  'fire exit blocked by pallets',
  'asbestos debris left uncovered',
  'guard removed, "to speed things up"',
  'spill kit empty',
];
export const FOLLOW_UPS = [
  'Follow-up visit required.',
  'Duty holder informed, verbally and in writing.',
  'Compliance to be confirmed by photographs.',
];

export const SAFETY_LEGISLATION = [
  'Health and Safety at Work etc. Act 1974 s.2(1)',
  'Health and Safety at Work etc. Act 1974 s.3(1)',
  'Work at Height Regulations 2005 reg.4(1)',
  'Provision and Use of Work Equipment Regulations 1998 reg.11',
  'Control of Substances Hazardous to Health Regulations 2002 reg.7',
  'Management of Health and Safety at Work Regulations 1999 reg.3',
  'Construction (Design and Management) Regulations 2015 reg.13',
];
export const ENVIRONMENT_LEGISLATION = [
  'Environmental Permitting (England and Wales) Regulations 2016 reg.12',
  'Environmental Permitting (England and Wales) Regulations 2016 reg.38',
  'Water Resources Act 1991 s.85',
  'Environmental Protection Act 1990 s.33',
  'Environmental Protection Act 1990 s.34',
];

/** Strings real exports use for "no value"; the demo config lists them under nullIf. */
export const DATE_SENTINELS = ['Not On File', 'N/A', '---', 'Unknown'];

export const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
