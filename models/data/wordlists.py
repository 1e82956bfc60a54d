"""Non-keyword words and phrases spoken as `_unknown_` training speech.

Homophones of keywords (to, too, for, won, ate, know, write, oh) are left out on purpose:
they sound like a keyword and would teach the model contradictory labels.
"""

# Speech Commands' own non-command words, then near misses of our keywords, then everyday words.
UNKNOWN_WORDS = tuple(
    dict.fromkeys(
        """
    backward bed bird cat dog follow forward happy house learn marvin sheila tree visual wow
    yet yeah yellow yesterday nose note now nod upper cup pup upon town round brown downtown
    lift lefty light bright ride fright own honest onto offer often coffee shop top
    stopping stopped goat gold ghost going computers commuter compute computing computed competition
    hero zebra wonder twenty twelve thirty thirteen forty fourteen fifty fifteen sixty sixteen
    seventy seventeen eighty eighteen ninety nineteen hundred thousand eleven heaven
    tent ten then free treat fire fine nice sick sticks eighth
    nineteen nina winter window wonderful music play pause volume weather timer alarm call
    hello please thanks thank you okay maybe never always open close light lamp kitchen bedroom
    garden garage door table chair water coffee morning evening night today tomorrow monday friday
    minute hour second number phone message email picture camera movie video radio station news
    sport game team player score ball cold warm hot rain snow wind cloud sunny summer autumn spring
    red blue green white black orange purple pink silver grey brown golden city river mountain
    beach forest island ocean street road bridge car bus train plane bike boat ship truck
    apple banana bread butter cheese chicken dinner lunch breakfast sugar salt pepper soup salad
    happy sad angry tired hungry busy quiet loud fast slow big small little long short high low
    mother father sister brother family friend people child children baby woman man person doctor
    teacher student school office market money price bank card ticket letter paper book story
    question answer problem idea reason minute moment week month year birthday holiday party
    begin finish start restart continue cancel repeat shuffle skip next previous back forward
    bottom middle inside outside above below behind between around across along against
    really actually probably certainly exactly simply quickly slowly easily nearly almost
    banana elephant giraffe tiger monkey rabbit horse sheep mouse spider dragon penguin
    """.split()
    )
)


# Sentences without any keyword, spoken as running non-keyword speech.
UNKNOWN_PHRASES = (
    "what is the weather like today",
    "play some music in the kitchen",
    "set a timer while the pasta cooks",
    "make the lights a little dimmer",
    "how long does the drive take",
    "remind me that my mother called",
    "what time is it in tokyo",
    "put milk and bread in the shopping list",
    "the meeting starts after lunch",
    "I think it will rain this afternoon",
    "can you tell me a joke",
    "please open the garage door",
    "how far is the nearest station",
    "my favourite colour is green",
    "the children are playing in the garden",
    "this is a really good question",
    "we should leave before the traffic gets bad",
    "the cat is sleeping in the sofa",
    "send my brother a message",
    "what is the capital of france",
    "I would like a cup of tea",
    "the film was better than the book",
    "let me think about that a while",
    "there is a problem with the heating",
    "she walked along the river past the bridge",
    "the shop closes early every sunday",
    "he bought a new bike last week",
    "read me the latest news",
    "how much is a ticket in london",
    "the bread is in the basket by the window",
    "make the bedroom a little warmer",
    "which team scored the most goals",
    "the train was late again this morning",
    "are there any new messages",
    "we had pasta and salad at dinner",
    "the birds are singing outside",
    "tell me something interesting",
    "what is the date of easter this year",
    "find a chocolate cake recipe",
    "the library is next door",
)
