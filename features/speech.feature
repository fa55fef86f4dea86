@tts
Feature: Answers can be spoken aloud
  When I ask for speech, I hear the answer as well as read it. The audio is real sound, the text and
  the speech each say once that they are finished, and the speech counts its pieces right; the
  audio may play along with the text or follow it. An earlier answer can be read aloud again
  without a new answer being written.

  Background:
    Given I am connected to the assistant

  @spoken_answer
  Scenario: An answer is written and spoken
    When I ask a question and want to hear the answer
    Then the answer streams in as text and as audio
    And both the text and the speech say once that they are finished
    And the audio is real sound
    And the speech counts its pieces right
    And the spoken answer arrives in the right order

  @read_aloud
  Scenario: An earlier answer is read aloud
    Given I have asked a question and its answer was stored
    When I ask for that answer to be read aloud
    Then it is spoken to its end and no new answer is written
    And the audio is real sound
    And the spoken answer arrives in the right order
