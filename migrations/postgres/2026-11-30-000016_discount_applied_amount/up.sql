-- What a used reward gave, fixed when it was redeemed: for a percentage discount, its share
-- of the order or consultation amount within the caps (it counts against the yearly and
-- federal caps from then on); for the other types, their amount.
ALTER TABLE referral_rewards ADD COLUMN applied_amount_cents bigint;
