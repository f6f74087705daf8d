"""Everyday shop vocabulary across English, Albanian and Serbian, for questions in one
language to a knowledge base written in another ("delivery" finds "dërgesa", "dostava").

Each line is one meaning (indented lines continue it): words (no diacritics, Serbian in
Latin script) that a customer may use for it in any of the three languages, base forms
only (stemming takes care of endings). General vocabulary of small shops (hours,
location, ordering, delivery, payment, returns, sizes, booking, food, clothing, phone
repair, beauty), not phrases of any one shop's questions.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["GROUPS"]

_TEXT: Final = """
open opened opening hours hour schedule working work works hapur hap hapet hapni orar orari
    punoni punojme pune radno radite radimo radi otvoreno otvarate otvoren vreme
close closed closing closes mbyll mbyllur mbylleni zatvoreno zatvarate zatvoren
time times clock ora ore koha kohe vreme sat sati casova
today sot danas
tomorrow neser sutra
weekday weekdays week java javes gjate radnim radni nedelja
weekend vikend vikendi
monday hene ponedeljak ponedeljka
tuesday marte utorak utorkom
wednesday merkure sreda sredom
thursday enjte cetvrtak cetvrtkom
friday premte petak petkom
saturday saturdays shtune shtunen subota subotom
sunday sundays diel diele dielen dielave nedelja nedeljom
holiday holidays festa feste festave festash praznik praznici praznicima bajram christmas bozic
    easter vaskrs
morning mengjes jutro ujutru
afternoon pasdite popodne
evening night mbremje noc vece uvece
where location located address adresa adresen adrese gjendeni gjendet nalazite nalazi lokacija
street road rruge rruga ulica ulici bulevard bulevar
near nearby close afer aferm blizu pored
park parking parked car cars parkim parkoj parkingu parkirati parkiram parkiranje vetura veture
    kola auto
deliver delivery delivers delivering shipping ship ships send courier post postal dergese
    dergesa dergoni dergojme dergoj dergim korrier postier poste dostava dostavu dostavljate
    dostavljamo isporuka isporucujete saljete posaljete poslati kurir kurirska posta postom
abroad international foreign country countries jashte shtet shteteve inostranstvo inostranstva
    drzava
city town cities towns qytet qytete qyteti grad gradu gradovi mesto mesta
free falas gratis besplatno besplatna besplatan
price prices cost costs much expensive cheap cmim cmimi cmimet kushton kushtojne shtrenjte lire
    cena cene kosta kostaju kostati skupo jeftino
pay paying payment payments paid pagese pagesa paguaj paguhet paguani pagu placanje platiti
    platim placate placa
card cards visa mastercard kartele kartela kartelen kartica karticom kartice
cash money para parate kesh keš gotovina gotovinom kes pare novac
euro euros eur evro evra evrima
dinar dinars dinara dinarima
installment installments instalment instalments monthly keste kest rate ratu rata
transfer bank banke bankar transfer virman uplata racun
contactless tap kontakt beskontaktno
order orders ordering porosi porosia porosine porosis porosit porositni porudzbina porudzbinu
    naruciti narucim narudzba
online internet instagram whatsapp viber facebook
phone call number telefon telefoni numer numri nazovete pozovite broj poziv
message text mesazh shkruani poruka poruku
book booking reserve reservation appointment rezervoj rezervim rezervimi rezervoni rezervu
    termin termini zakazati zakazem zakazujem zakazivanje rezervacija rezervisati
cancel cancellation anuloj anulim anuloni otkazati otkazem otkazivanje
change reschedule move ndryshoj ndryshim nderroj promeniti pomeriti promena
table tables tavoline tavolina sto stola
group people persons person grup persona njerez osoba osobe ljudi
party event celebration birthday hall room venue feste festa ditelindje salle salla proslava
    rodjendan sala prostor
cake cakes torte torta torten torti
bread loaf buke buka hleb hleba
pastry pastries sweets dessert desserts croissant embelsira embelsirat kroasant peciva kolaci
    slatkisi
coffee espresso latte cappuccino kafe kafeja kafa kafu
milk qumesht mleko
vegan plant oat almond soy lactose vegane tershere bajame laktoze biljno ovseno bademovo laktoza
gluten celiac coeliac celiaki celijakija
allergy allergies allergen allergens nuts peanut peanuts sesame alergji alergjen alergjene arra
    kikirik susam alergija alergije orasi kikiriki
breakfast mengjes mengjesi dorucak
takeaway take away togo vete poneti
drink drinks pije pijet pice
food eat ushqim hane hrana jelo
office offices company companies business hotel hotels restaurant zyre zyra kompani biznes
    restorant firma firme kancelarija hotel
supply supplier wholesale furnizim furnizoni furnitor snabdevanje veleprodaja
wifi internet password wireless fjalekalim fjalekalimi sifra lozinka
dog dogs pet pets animal animals qen qente kafshe kafshet ljubimci ljubimac zivotinje
smoke smoking cigarette cigarettes smoker duhan duhanit cigare duhanpires pusenje cigareta
    pusaci
student students student studente studentet studenti
discount discounts sale sales promotion offer offers deal zbritje zbritjet ulje oferte oferta
    popust popusti akcija snizenje rasprodaja
loyalty points club rewards besnikeri pike klub bodovi poeni lojalnost klub
gift voucher vouchers giftcard dhurate dhurata vaucer vauqer poklon vaucer vauceri
return returns refund kthej kthim kthimi ktheni kthy vratiti vracanje povrat refundacija
exchange swap replace nderroj nderrim nderrimi zamena zameniti zamenu promeniti
size sizes fit mase masa masen numer madhesi velicina velicinu broj
big large plus xl xxl madhe medha veliki velike
small little vogel mali male
dress dresses fustan fustane fustani haljina haljine
clothes clothing wear garment rroba rrobat veshje odeca garderoba
trousers pants jeans pantallona farmerke pantalone
jacket coat xhakete pallto jakna kaput
shirt blouse kemishe bluze kosulja bluza
shoes sneakers sandals kepuce atlete sandale cipele patike
bag bags handbag canta cante torba torbe tasna
accessories jewelry jewellery belt scarf aksesore bizhuteri rrip shall nakit kais sal
bride bridal wedding weddings nuse nusje nusesh dasem dasme vencanje svadba svadbene svadbeni
    mlada
men man boys beard meshkuj burra burre djem mjeker muskarci musko muski brada
women woman female ladies girls femra gra vajza zene zensko zenski devojke
kids children child baby femije femijet deca dete decu deci
try fitting provoj provuar probati proba probna
alter alteration alterations hem shorten tailor shkurtoj shkurtim rregulloj skratiti skracivanje
    prepravka krojac
defect defective faulty broken damaged torn stain defekt prishur demtuar shqepur njolle kvar
    ostecen pokvaren pokvari neispravan
warranty guarantee garanci garancia garancija garancije
new arrivals stock ri mall malli novo nova roba zalihe stanju
hold keep aside ruaj ruani rezervoj sacuvati cuvati
origin made import imported come prodhuar importuar vjen poreklo proizvedeno uvoz
repair repairs fix fixing service servis riparim riparoj rregullim popravka popravku popraviti
    popravljate
screen display ekran ekrani ekrana displej
battery baterie bateri bateria baterija bateriju
charge charging charger port connector karikoj karikues karikim punjenje puni punjac konektor
glass camera xham xhami kamera staklo stakla zadnje
water wet liquid uje lageshti voda vlaga vodu
data photos pictures contacts backup te dhena foto fotografi kontakte podaci podatke slike
    kontakti
unlock locked pin pattern shkyc shkyçje otkljucati otkljucavanje sifru sablon
slow freeze freezes frozen software update reset ngadale ngrin softuer spor zamrzava softver
    resetovanje
used second-hand secondhand refurbished perdorur polovni polovan polovne
sell selling sold buy buying bought shes shisni shitni blej blerje prodajete prodati kupiti
    kupujete otkup otkupljujete
case cover protector tempered mbeshtjelles mbrojtes maska maske futrola zastitno kaljeno
tablet tablets laptop laptops computer kompjuter racunar
pickup pick collect fetch preuzeti preuzmete preuzimanje
haircut hair cut trim floke prerje flokeve sisanje kosa kosu sisate
blowdry blow dry blowout fenim fenovanje fen
dye colour color colouring coloring highlights ngjyrosje ngjyre farbanje boja farbate pramenovi
manicure nails gel manikyr thonj manikir nokti gel lak
pedicure pedikyr pedikir
wax waxing depilation epilation hair removal depilim depilacija vosak
facial face skin peeling fytyre lekure lice koza tretman tretmani
makeup make-up grim sminka sminkanje
lashes eyelashes brows eyebrows qerpike vetulla trepavice obrve
cosmetics shampoo products kozmetike shampo produkte kozmetika sampon proizvodi
hygiene sterilize sterilise clean cleaning tools higjiene sterilizim pastrim higijena
    sterilisemo ciscenje pribor
pregnant pregnancy shtatzene shtatzeni trudnoca trudna trudnoce
wheelchair accessible accessibility stairs karroce qasje shkalle kolica pristupacan stepenice
how long duration takes zgjat zgjate traje trajanje
deposit advance kapar kapari kapara depozit avans
shop store place premises bakery cafe salon boutique dyqan dyqani lokal lokali kafene furre
    butik butiku salloni prodavnica radnja radnju lokal pekara kafic salon butik servis
visit come stop vizite vizitoj vij ejani posetiti posetim dodjem dodjite svratiti
test check diagnosis diagnostic kontroll diagnostike dijagnostika pregled
"""

#: One frozenset of words per meaning (an indented line continues the one above).
GROUPS: Final[tuple[frozenset[str], ...]] = tuple(
    frozenset(meaning.split()) for meaning in re.split(r"\n(?! )", _TEXT.strip())
)
