"""Word lists of the synthetic generator: categories, their aspects, and phrasings by polarity."""

# category -> (product nouns, aspects)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Headphones": (("headphones", "earbuds", "headset"),
                   ("battery life", "sound quality", "comfort", "noise cancelling", "bluetooth connection")),
    "Kitchen": (("blender", "coffee grinder", "food processor"),
                ("motor", "noise level", "blades", "cleaning", "capacity")),
    "Beauty": (("moisturizer", "shampoo", "face serum"),
               ("scent", "texture", "skin feel", "packaging", "lather")),
    "Apparel": (("jacket", "running shoes", "jeans"),
                ("fit", "fabric", "sizing", "color", "stitching")),
    "Toys": (("building set", "puzzle", "toy car"),
             ("durability", "instructions", "play value", "small parts", "assembly")),
    "Home": (("vacuum cleaner", "air purifier", "desk lamp"),
             ("suction power", "filter", "battery life", "noise level", "weight")),
}

BRANDS = ("Acme", "Nordic", "Zentro", "Bluepeak", "Orvio", "Kestrel", "Lumo", "Vanta", "Pelican", "Quill",
          "Sora", "Tundra", "Helix", "Marlow", "Cobalt", "Juniper")
PRODUCT_ADJECTIVES = ("Pro", "Lite", "Max", "Mini", "Classic", "Ultra", "Air", "Plus", "Eco", "Studio")

POSITIVE_PREDICATES = (
    "is excellent", "is great", "works perfectly", "exceeded my expectations", "is really impressive",
    "is better than I expected", "is solid", "is fantastic", "is top notch", "has been flawless",
)
NEGATIVE_PREDICATES = (
    "is terrible", "is disappointing", "stopped working after a week", "is worse than advertised",
    "is a real letdown", "could be much better", "is poor", "is awful", "fell apart quickly",
    "is cheap and flimsy",
)
NEUTRAL_PREDICATES = ("is okay", "is average", "is fine for the price", "is what you would expect",
                      "is neither good nor bad")
OPENERS = ("", "Honestly, ", "Overall ", "I think ", "For me ", "After a month, ", "So far ", "To be fair, ")
POSITIVE_CLOSERS = ("Would definitely buy again.", "Highly recommend it.", "Five stars from me.",
                    "Great value for the money.", "Very happy with this purchase.", "Love it!")
NEGATIVE_CLOSERS = ("I would not recommend this.", "Returning it.", "Save your money.",
                    "Very disappointed overall.", "Do not buy.", "Waste of money.")
NEUTRAL_CLOSERS = ("It does the job.", "It is fine, nothing special.", "Might buy again if on sale.")
FILLERS = ("I bought this for my {who}.", "It arrived {when}.", "This replaced my old {noun}.",
           "I have been using it for {span}.", "I ordered it after reading the reviews.")
FILLER_WORDS = {
    "who": ("wife", "husband", "son", "daughter", "office", "mom", "dad", "roommate"),
    "when": ("on time", "a day early", "two days late", "well packaged"),
    "span": ("a week", "two weeks", "a month", "three months", "half a year"),
}
SARCASTIC = ("Great, another {noun} that breaks in a week.", "Just what I needed, a {noun} that does nothing.",
             "Wonderful {noun}, if you enjoy disappointment.")
FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Chris", "Maria", "Li", "Priya", "Ahmed", "Olga", "Kim")
