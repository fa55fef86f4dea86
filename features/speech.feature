@tts
Feature: Answers can be spoken aloud
  A customer who asks for speech hears the answer while reading it. The text and the audio
  arrive side by side, and each says when it is finished.

  Scenario: An answer is written and spoken at the same time
    Given I am connected to the chat backend
    When I ask a question and want to hear the answer
    Then the answer streams in as text and as audio
    And both the text and the speech say they are finished
    And the audio is real sound
    And the speech events arrive in the promised order
